/**
 * Logging is the caller's: the CLI sets it per command (terminal level, the run's log file), and an SDK function never
 * changes what its caller configured, whatever the config it is given says.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import winston from 'winston';
import { doctor } from '../../ts/commands/doctor.js';
import { parseConfig } from '../../ts/config/load.js';
import { configureLogging, logger } from '../../ts/log.js';
import { withStageContext } from '../../ts/stages/context.js';

const transports = () => logger.transports.map((t) => ({ kind: t.constructor.name, level: t.level }));

describe("an SDK call leaves the caller's logging as it was", () => {
  configureLogging({ level: 'warn' });
  const before = transports();
  const config = parseConfig({ run: { dir: mkdtempSync(join(tmpdir(), 'logging-')) }, logging: { level: 'debug' } });
  afterAll(() => configureLogging({ level: 'info' }));

  it('a stage context neither opens the run log file nor changes the terminal level', async () => {
    await withStageContext(config, async () => {});
    expect(transports()).toEqual(before);
    expect(logger.transports.some((t) => t instanceof winston.transports.File)).toBe(false);
  });

  it('doctor keeps the terminal at the level the caller chose', async () => {
    await doctor(config);
    expect(transports()).toEqual(before);
    expect(before).toEqual([{ kind: 'Console', level: 'warn' }]);
  });
});
