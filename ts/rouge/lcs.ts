/**
 * Length of the longest common subsequence of two token-id sequences, bit-parallel (Allison–Dix / Hyyrö): one bit
 * per pattern position in 32-bit words, one add-with-carry per text token that occurs in the pattern. Tokens of the
 * text that do not occur in the pattern leave the bit-vector unchanged, so they cost one table look-up.
 */

/** Match masks of one pattern, reusable against many texts. */
export class LcsPattern {
  readonly length: number;
  private readonly words: number;
  /**
   * Patterns of up to 32 tokens: token id → match mask (0 when absent). Longer ones: token id → 1 + row in `masks`
   * (0 when absent). Dense over all ids the caller may pass, so every look-up is in bounds.
   */
  private readonly table: Int32Array;
  private readonly masks: Uint32Array;
  private readonly state: Uint32Array;

  /** `idLimit`: ids in texts are below it (an index passes its vocabulary size); default: the pattern's largest + 1. */
  constructor(pattern: ArrayLike<number>, idLimit?: number) {
    this.length = pattern.length;
    this.words = Math.max(1, Math.ceil(pattern.length / 32));
    let maxId = -1;
    for (let i = 0; i < pattern.length; i++) maxId = Math.max(maxId, pattern[i]!);
    this.table = new Int32Array(Math.max(idLimit ?? 0, maxId + 1));
    if (this.words === 1) {
      for (let i = 0; i < pattern.length; i++) this.table[pattern[i]!]! |= 1 << i;
      this.masks = new Uint32Array(0);
    } else {
      let rows = 0;
      for (let i = 0; i < pattern.length; i++) if (this.table[pattern[i]!] === 0) this.table[pattern[i]!] = ++rows;
      this.masks = new Uint32Array(rows * this.words);
      for (let i = 0; i < pattern.length; i++) {
        const row = this.table[pattern[i]!]! - 1;
        this.masks[row * this.words + (i >>> 5)]! |= 1 << (i & 31);
      }
    }
    this.state = new Uint32Array(this.words);
  }

  /** LCS length with `text`. */
  lcs(text: Int32Array | readonly number[]): number {
    if (this.length === 0 || text.length === 0) return 0;
    const { table } = this;
    if (this.words === 1) {
      // V starts all ones; for each matching token: U = V & M, V = (V + U) | (V - U), where V - U = V & ~U.
      // Int32 arithmetic: the add wraps modulo 2^32, which drops the carry out of the top bit as it should.
      let v = -1;
      for (let j = 0; j < text.length; j++) {
        const id = text[j]!;
        const mask = id < table.length ? table[id]! : 0;
        if (mask === 0) continue;
        const u = v & mask;
        v = (v + u) | 0 | (v & ~u);
      }
      return popcount(~v & lowBits(this.length));
    }
    const { masks, words } = this;
    const v = this.state;
    v.fill(0xffffffff);
    for (let j = 0; j < text.length; j++) {
      const id = text[j]!;
      const row = id < table.length ? table[id]! : 0;
      if (row === 0) continue;
      const base = (row - 1) * words;
      let carry = 0;
      for (let w = 0; w < words; w++) {
        const vw = v[w]!;
        const u = (vw & masks[base + w]!) >>> 0;
        const sum = vw + u + carry;
        carry = sum > 0xffffffff ? 1 : 0;
        v[w] = (sum >>> 0) | (vw & ~u);
      }
    }
    let zeros = 0;
    for (let w = 0; w < words; w++) {
      const bits = w === words - 1 ? this.length - 32 * w : 32;
      zeros += popcount(~v[w]! & lowBits(bits));
    }
    return zeros;
  }
}

function lowBits(n: number): number {
  return n >= 32 ? -1 : (1 << n) - 1;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export function lcsLength(a: ArrayLike<number>, b: Int32Array | readonly number[]): number {
  return new LcsPattern(a).lcs(b);
}
