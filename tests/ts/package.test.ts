/**
 * The package as a user gets it: `npm pack`, installed into a fresh project outside the repository, then imported from
 * plain Node (no tsx, no TypeScript loader: tsx is a dev dependency and is not installed there), its command started,
 * and a TypeScript file type-checked against its declarations.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../ts/paths.js';

const work = mkdtempSync(join(tmpdir(), 'refine-af-pack-'));
const project = join(work, 'consumer');
const tsc = join(packageRoot, 'node_modules', '.bin', 'tsc');

beforeAll(async () => {
  await execa('npm', ['pack', '--silent', '--pack-destination', work], { cwd: packageRoot });
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // From the local npm cache (the project's own install filled it). --ignore-scripts: nothing here opens a rating
  // database, so better-sqlite3's native build is not needed (its binding loads when a database is opened).
  await execa(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      join(work, tarball),
      '@types/node@20',
    ],
    { cwd: project },
  );
}, 600_000);

describe('the packed package, installed into a fresh project', () => {
  it('imports from plain Node, and finds the files it ships (the seed tasks) from inside node_modules', async () => {
    const script = `
      import { defaultConfigFile, loadConfig, loadSeedTasks, parseConfig, ConfigError } from 'refine-af';
      const config = parseConfig({});
      let error;
      try { parseConfig({ no_such_section: 1 }); } catch (e) { error = e; }
      // The README's SDK example loads the shipped default config this way, from the user's own directory.
      const demo = loadConfig(defaultConfigFile);
      console.log(JSON.stringify({ seeds: loadSeedTasks().length, defaultModel: config.models.generator, configError: error instanceof ConfigError, demoInstructions: demo.instructions.num_instructions }));`;
    const { stdout } = await execa('node', ['--input-type=module', '-e', script], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({
      seeds: 175,
      defaultModel: 'embedded:smollm2-135m-instruct',
      configError: true,
      demoInstructions: 40,
    });
  });

  it('ships no TypeScript loader: the command runs from the compiled JavaScript', async () => {
    const help = await execa(join(project, 'node_modules', '.bin', 'refine-af'), ['--help'], { cwd: project });
    expect(help.stdout).toMatch(/^Usage: refine-af /);
    await expect(execa('node', ['--input-type=module', '-e', "import 'tsx'"], { cwd: project })).rejects.toThrow(
      /Cannot find package 'tsx'/,
    );
  });

  it('type-checks a TypeScript file against its declarations, and rejects one that misuses them', async () => {
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          noEmit: true,
          types: ['node'],
        },
      }),
    );
    writeFileSync(
      join(project, 'good.ts'),
      "import { loadSeedTasks, parseConfig, type Config, type SeedTask } from 'refine-af';\n" +
        'const config: Config = parseConfig({});\n' +
        'const seeds: SeedTask[] = loadSeedTasks();\n' +
        "export const summary: string = [config.models.generator, seeds.length].join(': ');\n",
    );
    await execa(tsc, ['-p', 'tsconfig.json'], { cwd: project });
    writeFileSync(join(project, 'bad.ts'), "import { loadSeedTasks } from 'refine-af';\nexport const count: string = loadSeedTasks();\n");
    const bad = await execa(tsc, ['-p', 'tsconfig.json'], { cwd: project, reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stdout).toMatch(/bad\.ts\(2,14\): error TS2322: Type '\{ id: string; .*\}\[\]' is not assignable to type 'string'/);
  });
});
