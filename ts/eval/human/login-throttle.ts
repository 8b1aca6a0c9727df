/**
 * Failed logins per client address: after `failures` wrong tokens within `windowMs` of the first, the address is refused
 * until that window ends. Memory is bounded: at most `addresses` are remembered, the least recently seen forgotten first
 * (a Map keeps insertion order, so re-inserting on each use makes its first key the least recent).
 */
export interface LoginThrottleSettings {
  failures: number;
  windowMs: number;
  addresses: number;
}

interface FailedLogins {
  failures: number;
  windowStart: number;
}

export class LoginThrottle {
  private readonly records = new Map<string, FailedLogins>();

  constructor(private readonly settings: LoginThrottleSettings) {}

  /** Seconds until the address may try again, or undefined when it may now. */
  retryAfterSeconds(address: string): number | undefined {
    const record = this.current(address);
    if (record === undefined || record.failures < this.settings.failures) return undefined;
    return Math.ceil((record.windowStart + this.settings.windowMs - Date.now()) / 1000);
  }

  recordFailure(address: string): void {
    const record = this.current(address) ?? { failures: 0, windowStart: Date.now() };
    record.failures++;
    this.records.delete(address);
    this.records.set(address, record);
    if (this.records.size > this.settings.addresses) this.records.delete(this.records.keys().next().value as string);
  }

  recordSuccess(address: string): void {
    this.records.delete(address);
  }

  /** The address's record while its window lasts; an expired one is dropped. */
  private current(address: string): FailedLogins | undefined {
    const record = this.records.get(address);
    if (record !== undefined && Date.now() >= record.windowStart + this.settings.windowMs) {
      this.records.delete(address);
      return undefined;
    }
    return record;
  }
}
