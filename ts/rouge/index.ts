/**
 * The novelty filter's index: a pool of instructions that answers, exactly, "which pool entries are most ROUGE-L
 * similar to this text, and is the best of them above the threshold?" without scoring every pair.
 *
 * Why it can skip pairs: LCS(a, b) ≤ c(a, b) = Σ_t min(count_a(t), count_b(t)) (every LCS element is a shared token
 * occurrence), so F(a, b) ≤ 2·c / (|a| + |b|), which is itself ≤ the length bound 2·min(|a|, |b|) / (|a| + |b|). An
 * inverted index (token → pool entries with their counts) gives c for every entry that shares a token with the query;
 * an entry that shares none has F = 0 exactly. Exact LCS (bit-parallel, ./lcs.ts) is computed only where the bound
 * could still reach the current k-th best score. The bound is compared with a margin far above float rounding
 * (BOUND_MARGIN), so a skipped pair provably scores below what it is compared with; every reported score is exact.
 */
import { LcsPattern } from './lcs.js';
import { rougeLFromLcs } from './score.js';
import { rougeTokens } from './tokenize.js';

/** F is computed with a few roundings (relative error < 1e-15); a bound this far below a score cannot beat it. */
const BOUND_MARGIN = 1e-9;

export interface SimilarEntry {
  /** Position in the pool, in insertion order. */
  index: number;
  instruction: string;
  /** Exact ROUGE-L F-measure with the query. */
  score: number;
}

export interface Nearest {
  /** Exact maximum F over the whole pool (0 for an empty pool or a query without tokens). */
  maxScore: number;
  /**
   * The k pool entries with the highest F, best first, ties broken by pool order. Entries scoring 0 (no shared
   * token) are never listed, so fewer than k appear when fewer than k entries share a token with the query.
   */
  mostSimilar: SimilarEntry[];
}

export interface IndexCounters {
  queries: number;
  /** Pairs (query, pool entry) the query was compared against: pool size at each query, summed. */
  pairs: number;
  /** Pairs sharing at least one token (the rest score 0 without any work). */
  pairsSharingTokens: number;
  /** Pairs whose exact LCS was computed. */
  pairsScored: number;
}

export class NoveltyIndex {
  private readonly vocabulary = new Map<string, number>();
  private readonly instructions: string[] = [];
  private readonly tokens: Int32Array[] = [];
  /** Per token id: the pool entries containing it and how often. */
  private readonly postingEntries: number[][] = [];
  private readonly postingCounts: number[][] = [];
  /** Scratch per query: shared-token multiset size per entry, and the entries touched. */
  private overlap = new Int32Array(1024);
  private touched = new Int32Array(1024);
  readonly counters: IndexCounters = { queries: 0, pairs: 0, pairsSharingTokens: 0, pairsScored: 0 };

  constructor(initial: Iterable<string> = []) {
    for (const instruction of initial) this.add(instruction);
  }

  get size(): number {
    return this.instructions.length;
  }

  instruction(index: number): string {
    const text = this.instructions[index];
    if (text === undefined) throw new RangeError(`no pool entry ${index} (pool has ${this.size})`);
    return text;
  }

  add(instruction: string): void {
    const ids = this.intern(rougeTokens(instruction));
    const entry = this.instructions.length;
    this.instructions.push(instruction);
    this.tokens.push(ids);
    for (const [id, count] of countTokens(ids)) {
      (this.postingEntries[id] ??= []).push(entry);
      (this.postingCounts[id] ??= []).push(count);
    }
    if (entry >= this.overlap.length) {
      const grown = new Int32Array(this.overlap.length * 2);
      this.overlap = grown;
      this.touched = new Int32Array(grown.length);
    }
  }

  /** Exact max score and the k most similar entries (see `Nearest`). */
  nearest(instruction: string, k: number): Nearest {
    this.counters.queries++;
    this.counters.pairs += this.size;
    const query = this.intern(rougeTokens(instruction));
    if (query.length === 0 || this.size === 0) return { maxScore: 0, mostSimilar: [] };
    const touchedCount = this.gatherOverlaps(query);
    this.counters.pairsSharingTokens += touchedCount;
    const pattern = new LcsPattern(query);
    const best = new TopK(Math.max(k, 1));
    const bound = (entry: number) => (2 * this.overlap[entry]!) / (query.length + this.tokens[entry]!.length);
    const score = (entry: number) => {
      this.counters.pairsScored++;
      const doc = this.tokens[entry]!;
      best.offer(entry, rougeLFromLcs(pattern.lcs(doc), query.length, doc.length));
    };

    // Seed the top-k with the entries of highest bound, so the cut-off below is high from the start.
    const seeds = new TopK(Math.max(k, 1));
    for (let i = 0; i < touchedCount; i++) seeds.offer(this.touched[i]!, bound(this.touched[i]!));
    for (const entry of seeds.entries()) {
      score(entry);
      this.overlap[entry] = -this.overlap[entry]!; // mark as scored
    }
    for (let i = 0; i < touchedCount; i++) {
      const entry = this.touched[i]!;
      if (this.overlap[entry]! < 0) continue;
      if (best.full() && bound(entry) < best.floor() - BOUND_MARGIN) continue;
      score(entry);
    }
    for (let i = 0; i < touchedCount; i++) this.overlap[this.touched[i]!] = 0;

    const ranked = best.ranked().filter((e) => e.score > 0);
    return {
      maxScore: ranked[0]?.score ?? 0,
      mostSimilar: ranked.slice(0, k).map((e) => ({ index: e.entry, instruction: this.instructions[e.entry]!, score: e.score })),
    };
  }

  /** Mean F over the whole pool, every pair scored exactly and summed in pool order (0 for an empty pool). */
  averageSimilarity(instruction: string): number {
    if (this.size === 0) return 0;
    const query = this.intern(rougeTokens(instruction));
    const pattern = new LcsPattern(query);
    let sum = 0;
    for (const doc of this.tokens) sum += rougeLFromLcs(pattern.lcs(doc), query.length, doc.length);
    return sum / this.size;
  }

  private intern(tokens: string[]): Int32Array {
    const ids = new Int32Array(tokens.length);
    tokens.forEach((t, i) => {
      let id = this.vocabulary.get(t);
      if (id === undefined) this.vocabulary.set(t, (id = this.vocabulary.size));
      ids[i] = id;
    });
    return ids;
  }

  /** Fill `overlap` with c(query, entry) for every entry sharing a token; returns how many entries were touched. */
  private gatherOverlaps(query: Int32Array): number {
    let touchedCount = 0;
    for (const [id, queryCount] of countTokens(query)) {
      const entries = this.postingEntries[id];
      if (entries === undefined) continue;
      const counts = this.postingCounts[id]!;
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i]!;
        const before = this.overlap[entry]!;
        if (before === 0) this.touched[touchedCount++] = entry;
        this.overlap[entry] = before + Math.min(queryCount, counts[i]!);
      }
    }
    return touchedCount;
  }
}

function countTokens(ids: Int32Array): Map<number, number> {
  const counts = new Map<number, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** The k best (entry, value) pairs by value descending, ties by entry ascending; k is small (10), so a sorted array. */
class TopK {
  private readonly items: { entry: number; score: number }[] = [];
  constructor(private readonly k: number) {}

  full(): boolean {
    return this.items.length >= this.k;
  }

  /** The k-th best value (only meaningful when full). */
  floor(): number {
    return this.items[this.items.length - 1]!.score;
  }

  offer(entry: number, score: number): void {
    const items = this.items;
    if (items.length >= this.k && !better(entry, score, items[items.length - 1]!)) return;
    let at = items.length;
    while (at > 0 && better(entry, score, items[at - 1]!)) at--;
    items.splice(at, 0, { entry, score });
    if (items.length > this.k) items.pop();
  }

  entries(): number[] {
    return this.items.map((i) => i.entry);
  }

  ranked(): readonly { entry: number; score: number }[] {
    return this.items;
  }
}

function better(entry: number, score: number, than: { entry: number; score: number }): boolean {
  return score > than.score || (score === than.score && entry < than.entry);
}
