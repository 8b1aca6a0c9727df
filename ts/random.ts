/**
 * A seeded random generator whose whole state is four 32-bit numbers (sfc32), so a run can save it and resume the
 * exact same stream. Math.random cannot be seeded or saved.
 */
export type RandomState = [number, number, number, number];

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A fresh stream from a seed, or the continuation of a saved state. */
  constructor(seedOrState: number | RandomState) {
    if (typeof seedOrState === 'number') {
      [this.a, this.b, this.c, this.d] = [0x9e3779b9, 0x243f6a88, 0xb7e15162, seedOrState >>> 0];
      for (let i = 0; i < 15; i++) this.nextUint32(); // mix the seed through the state
    } else {
      [this.a, this.b, this.c, this.d] = seedOrState;
    }
  }

  state(): RandomState {
    return [this.a, this.b, this.c, this.d];
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`Random.int: bad range ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    let x: number;
    do x = this.nextUint32();
    while (x >= limit);
    return x % n;
  }

  /** Shuffle in place (Fisher–Yates). */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** k distinct items, uniformly (partial Fisher–Yates on a copy of the indices). */
  sample<T>(items: readonly T[], k: number): T[] {
    if (k > items.length) throw new RangeError(`Random.sample: ${k} from ${items.length}`);
    const order = items.map((_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(order.length - i);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order.slice(0, k).map((i) => items[i]!);
  }
}
