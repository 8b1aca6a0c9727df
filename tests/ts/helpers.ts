import { setTimeout as sleep } from 'node:timers/promises';
import Transport from 'winston-transport';

/** A winston transport that keeps every record it is given: add it to the logger to see what a test logged. */
export class CaptureTransport extends Transport {
  lines: { level: string; message: string; source?: string }[] = [];
  override log(info: { level: string; message: string; source?: string }, next: () => void) {
    this.lines.push(info);
    next();
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Poll until `pid` is gone; false if it is still there after `ms`. */
export async function waitForExit(pid: number, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await sleep(100);
  }
  return !processAlive(pid);
}
