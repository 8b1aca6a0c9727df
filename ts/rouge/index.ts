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
/** A token in more than 1/8 of the pool is "frequent": worth trying to skip (a tuning knob, not a result knob). */
const FREQUENT_DIVISOR = 8;

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
  private readonly postings: Postings[] = [];
  /** Per entry (grown together): token count; scratch per query: shared-token multiset size, entries touched. */
  private lengths = new Int32Array(1024);
  private overlap = new Int32Array(1024);
  private touched = new Int32Array(1024);
  /** Entries already scored in the current query carry its stamp. */
  private scoredStamp = new Int32Array(1024);
  private queryStamp = 0;
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
    if (entry >= this.lengths.length) {
      const capacity = this.lengths.length * 2;
      const lengths = new Int32Array(capacity);
      lengths.set(this.lengths);
      const stamps = new Int32Array(capacity);
      stamps.set(this.scoredStamp);
      [this.lengths, this.scoredStamp] = [lengths, stamps];
      // Between queries `overlap` is all zeros and `touched` holds nothing.
      [this.overlap, this.touched] = [new Int32Array(capacity), new Int32Array(capacity)];
    }
    this.instructions.push(instruction);
    this.tokens.push(ids);
    this.lengths[entry] = ids.length;
    for (const [id, count] of countTokens(ids)) (this.postings[id] ??= new Postings()).push(entry, count);
  }

  /** Exact max score and the k most similar entries (see `Nearest`). */
  nearest(instruction: string, k: number): Nearest {
    this.counters.queries++;
    this.counters.pairs += this.size;
    const query = this.intern(rougeTokens(instruction));
    if (query.length === 0 || this.size === 0) return { maxScore: 0, mostSimilar: [] };
    const m = query.length;
    const stamp = ++this.queryStamp;
    const { lengths, overlap, touched, scoredStamp, tokens: docs } = this;
    const pattern = new LcsPattern(query, this.vocabulary.size);
    const best = new TopK(Math.max(k, 1));
    const score = (entry: number) => {
      this.counters.pairsScored++;
      scoredStamp[entry] = stamp;
      best.offer(entry, rougeLFromLcs(pattern.lcs(docs[entry]!), m, lengths[entry]!));
    };
    // An entry can still enter the top k when its bound 2·min(overlap + unread, length, m) / (m + length) is not below
    // the k-th best exact score (less the margin); compared multiplied out, without a division per entry.
    let cutoff = -1;
    const refreshCutoff = () => {
      if (best.full()) cutoff = best.floor() - BOUND_MARGIN;
    };

    // Read the postings of the rarest query tokens first. An entry not touched yet shares only unread tokens, so its
    // F ≤ 2R/(m+R) for R unread query tokens: once that is below the k-th best exact score, the long postings of the
    // frequent tokens need not be read at all. Before the first frequent token, score the most promising entries
    // touched so far, to have a k-th best to compare with.
    const queryTokens = [...countTokens(query)].map(([id, count]) => ({ id, count, postings: this.postings[id] }));
    queryTokens.sort((a, b) => (a.postings?.length ?? 0) - (b.postings?.length ?? 0));
    const frequent = this.size / FREQUENT_DIVISOR;
    let unread = m;
    let touchedCount = 0;
    let seeded = false;
    for (const { count, postings } of queryTokens) {
      if (postings !== undefined && postings.length > frequent) {
        if (!seeded) {
          seeded = true;
          const promising = new TopK(best.capacity);
          for (let i = 0; i < touchedCount; i++) {
            const entry = touched[i]!;
            const length = lengths[entry]!;
            promising.offer(entry, (2 * Math.min(overlap[entry]! + unread, length, m)) / (m + length));
          }
          for (const entry of promising.entries()) score(entry);
          refreshCutoff();
        }
        if ((2 * unread) / (m + unread) < cutoff) break;
      }
      if (postings !== undefined) touchedCount = postings.accumulate(count, overlap, touched, touchedCount);
      unread -= count;
    }
    this.counters.pairsSharingTokens += touchedCount;
    refreshCutoff();
    // The hot loop over every touched entry: the bound inlined, and `overlap` cleared for the next query as it is read.
    for (let i = 0; i < touchedCount; i++) {
      const entry = touched[i]!;
      const length = lengths[entry]!;
      let bound = overlap[entry]! + unread;
      overlap[entry] = 0;
      if (bound > length) bound = length;
      if (bound > m) bound = m;
      if (2 * bound < cutoff * (m + length) || scoredStamp[entry] === stamp) continue;
      score(entry);
      refreshCutoff();
    }

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
    const pattern = new LcsPattern(query, this.vocabulary.size);
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
}

/** The pool entries that contain one token, with the token's count in each; typed arrays, grown by doubling. */
class Postings {
  length = 0;
  private entries = new Int32Array(4);
  private counts = new Int32Array(4);

  push(entry: number, count: number): void {
    if (this.length === this.entries.length) {
      const entries = new Int32Array(this.length * 2);
      entries.set(this.entries);
      const counts = new Int32Array(this.length * 2);
      counts.set(this.counts);
      [this.entries, this.counts] = [entries, counts];
    }
    this.entries[this.length] = entry;
    this.counts[this.length++] = count;
  }

  /** Add min(queryCount, count) to `overlap` of every entry, recording first touches; returns the touched count. */
  accumulate(queryCount: number, overlap: Int32Array, touched: Int32Array, touchedCount: number): number {
    const { entries, counts, length } = this;
    if (queryCount === 1) {
      // The common case, and the hot loop of the filter: every listed entry contains the token at least once.
      for (let i = 0; i < length; i++) {
        const entry = entries[i]!;
        const before = overlap[entry]!;
        if (before === 0) touched[touchedCount++] = entry;
        overlap[entry] = before + 1;
      }
      return touchedCount;
    }
    for (let i = 0; i < length; i++) {
      const entry = entries[i]!;
      const before = overlap[entry]!;
      if (before === 0) touched[touchedCount++] = entry;
      const count = counts[i]!;
      overlap[entry] = before + Math.min(count, queryCount);
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
  constructor(readonly capacity: number) {}

  full(): boolean {
    return this.items.length >= this.capacity;
  }

  /** The k-th best value (only meaningful when full). */
  floor(): number {
    return this.items[this.items.length - 1]!.score;
  }

  offer(entry: number, score: number): void {
    const items = this.items;
    if (items.length >= this.capacity && !better(entry, score, items[items.length - 1]!)) return;
    let at = items.length;
    while (at > 0 && better(entry, score, items[at - 1]!)) at--;
    items.splice(at, 0, { entry, score });
    if (items.length > this.capacity) items.pop();
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
