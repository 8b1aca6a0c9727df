import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import Transport from 'winston-transport';
import { defaultPython, packageRoot } from '../../ts/paths.js';

/** A winston transport that keeps every record it is given: add it to the logger to see what a test logged. */
export class CaptureTransport extends Transport {
  lines: { level: string; message: string; source?: string; logger?: string }[] = [];
  override log(info: { level: string; message: string; source?: string; logger?: string }, next: () => void) {
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

/** What a fixture process reports: the first `{"pid": …}` JSON object it prints on stdout. */
export function printedPid<T extends { pid: number }>(stdout: Readable): Promise<T> {
  return new Promise((resolve) => {
    let seen = '';
    stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /\{"pid".*\}/.exec(seen);
      if (match) resolve(JSON.parse(match[0]) as T);
    });
  });
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

/**
 * Run a command in a real terminal (a tmux pane: a pseudo-terminal with a terminal emulator behind it) and return what
 * the screen shows once it has exited, scrollback included, with wrapped lines joined, as a person would read it.
 */
export async function runInTerminal(
  command: readonly string[],
  options: { cwd: string; env?: Record<string, string>; columns?: number; timeoutMs?: number },
): Promise<{ screen: string; exitCode: number }> {
  // exitCode: the command's, or 128 + the signal that ended it, as a shell reports it.
  const dir = mkdtempSync(join(tmpdir(), 'refine-af-terminal-'));
  const socket = join(dir, 'tmux.sock');
  const config = join(dir, 'tmux.conf');
  // The pane stays on the screen after its command exits, so that its last screen can be read; a generous scrollback.
  writeFileSync(config, 'set -g remain-on-exit on\nset -g history-limit 20000\n');
  const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, '-f', config, ...args], { encoding: 'utf8' });
  const env = Object.entries(options.env ?? {}).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  try {
    // The exit status comes from the shell around the command (128 + N for signal N, as a shell reports it): tmux does
    // not always reap the pane's process (seen under vitest: a zombie, pane dead, no pane_dead_status).
    const statusFile = join(dir, 'status');
    const wrapped = ['sh', '-c', `"$@"; echo $? > ${statusFile}`, 'sh', ...command];
    tmux('new-session', '-d', '-s', 'run', '-x', String(options.columns ?? 160), '-y', '50', '-c', options.cwd, ...env, ...wrapped);
    const deadline = Date.now() + (options.timeoutMs ?? 600_000);
    for (;;) {
      const dead = tmux('display-message', '-p', '-t', 'run', '#{pane_dead}').trim();
      if (dead === '1' && existsSync(statusFile)) {
        // Less tmux's own "Pane is dead" line.
        const screen = tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'run')
          .replace(/\s*Pane is dead[^\n]*\s*$/, '')
          .replace(/\s+$/, '');
        return { screen, exitCode: Number(readFileSync(statusFile, 'utf8').trim()) };
      }
      if (Date.now() > deadline)
        throw new Error(`${command.join(' ')} still running after ${options.timeoutMs} ms:\n${tmux('capture-pane', '-p', '-t', 'run')}`);
      await sleep(250);
    }
  } finally {
    try {
      tmux('kill-server');
    } catch {
      // Already gone.
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A LoRA adapter with random weights for the model in `modelDir` (tests/py/tiny_models.py's save_tiny_lora), saved in `dir`. */
export function saveTinyLora(dir: string, modelDir: string): string {
  const script =
    'import sys; from pathlib import Path; from tiny_models import save_tiny_lora; save_tiny_lora(Path(sys.argv[1]), Path(sys.argv[2]))';
  // `python -c` imports from its working directory: tests/py's tiny_models.
  execFileSync(defaultPython, ['-c', script, dir, modelDir], { cwd: join(packageRoot, 'tests', 'py') });
  return dir;
}
