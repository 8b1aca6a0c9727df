/**
 * Length of the longest common subsequence of two token-id sequences, bit-parallel (Allison–Dix / Hyyrö): one bit
 * per pattern position in 32-bit words, one add-with-carry per text token that occurs in the pattern. Tokens of the
 * text that do not occur in the pattern leave the bit-vector unchanged, so they cost one table look-up.
 */

/** Match masks of one pattern, reusable against many texts. */
export class LcsPattern {
  readonly length: number;
  private readonly words: number;
  /** Mask rows, `words` 32-bit words per distinct pattern token. */
  private readonly masks: Uint32Array;
  /** Token id → 1 + row in `masks`; 0 (or past the end) for ids not in the pattern. Dense: one array read per text token. */
  private readonly rowOf: Int32Array;
  private readonly state: Uint32Array;

  constructor(pattern: ArrayLike<number>) {
    this.length = pattern.length;
    this.words = Math.max(1, Math.ceil(pattern.length / 32));
    let maxId = -1;
    for (let i = 0; i < pattern.length; i++) maxId = Math.max(maxId, pattern[i]!);
    this.rowOf = new Int32Array(maxId + 1);
    let rows = 0;
    for (let i = 0; i < pattern.length; i++) {
      const id = pattern[i]!;
      if (this.rowOf[id] === 0) this.rowOf[id] = ++rows;
    }
    this.masks = new Uint32Array(rows * this.words);
    for (let i = 0; i < pattern.length; i++) {
      const row = this.rowOf[pattern[i]!]! - 1;
      this.masks[row * this.words + (i >>> 5)]! |= 1 << (i & 31);
    }
    this.state = new Uint32Array(this.words);
  }

  /** LCS length with `text`. */
  lcs(text: ArrayLike<number>): number {
    if (this.length === 0 || text.length === 0) return 0;
    const { masks, words, rowOf } = this;
    if (words === 1) {
      // V starts all ones; for each matching token: U = V & M, V = (V + U) | (V - U), where V - U = V & ~U.
      let v = 0xffffffff;
      for (let j = 0; j < text.length; j++) {
        const row = rowOf[text[j]!];
        if (!row) continue;
        const u = v & masks[row - 1]!;
        v = ((v + u) | (v & ~u)) >>> 0;
      }
      return popcount(~v & lowBits(this.length));
    }
    const v = this.state;
    v.fill(0xffffffff);
    for (let j = 0; j < text.length; j++) {
      const row = rowOf[text[j]!];
      if (!row) continue;
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
  return n >= 32 ? 0xffffffff : ((1 << n) - 1) >>> 0;
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

export function lcsLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return new LcsPattern(a).lcs(b);
}
