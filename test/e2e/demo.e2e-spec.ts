import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import { freePort } from '../support/free-port.js';
import { cleanUp } from '../support/test-app.js';
import { testConfig, testEnv } from '../support/test-env.js';

// The demo as `npm run demo` runs it after the build (scripts/demo execs this file).
const DEMO = join(process.cwd(), 'scripts/demo.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `npm run demo` away from its default image port: the sample image server, the
 * service it starts and the CSV it submits all move to DEMO_IMAGES_PORT, so a
 * machine where 8099 is taken can still run it. Run from a scratch folder, so its
 * data/demo/ is the test's own.
 */
describe('the demo on another image port', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pixbatch-demo-'));
  });

  afterAll(async () => {
    if (env) await cleanUp(testConfig(env));
    await rm(dir, { recursive: true, force: true });
  });

  const demo = (extraEnv: Record<string, string>): Promise<Run> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [DEMO],
        { cwd: dir, env: { PATH: process.env.PATH, ...env, ...extraEnv }, timeout: 110_000 },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });

  it('serves the sample images on DEMO_IMAGES_PORT and submits a CSV that points there', async () => {
    const imagesPort = await freePort();
    const servicePort = await freePort();
    // The demo starts the service (PORT from PIXBATCH_URL) with this environment: the suite's database and queues.
    env = testEnv({ PUBLIC_BASE_URL: `http://127.0.0.1:${servicePort}`, LOG_LEVEL: 'info' });
    delete env.PORT;
    delete env.ALLOW_PRIVATE_NETWORKS; // the demo opens the guard for its own service
    const run = await demo({ DEMO_IMAGES_PORT: String(imagesPort), PIXBATCH_URL: `http://127.0.0.1:${servicePort}` });
    // The demo's own output on a failure, so the assertion says why.
    expect([run.code, run.code === 0 ? '' : `${run.stdout}\n${run.stderr}`]).toEqual([0, '']);
    expect(run.stdout).toContain(`Sample images: starting examples/image-server.mjs on 127.0.0.1:${imagesPort}`);
    expect(run.stdout).toContain(`$ pixbatch submit data/demo/products.csv --wait -o data/demo/products-result.csv`);
    expect(run.stdout).toContain('Status: completed_with_errors');

    const submitted = await readFile(join(dir, 'data/demo/products.csv'), 'utf8');
    expect(submitted).not.toContain(':8099/');
    expect(submitted).toContain(`http://127.0.0.1:${imagesPort}/products/1.jpg`);
    const rows: string[][] = parse(await readFile(join(dir, 'data/demo/products-result.csv')), { bom: true });
    const [header, ...products] = rows;
    expect(header).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors']);
    const outputs = products.flatMap((row) => row[3].split(',').map((url) => url.trim()));
    // Eleven of the twelve sample images are served; the one missing on purpose fails as HTTP 404.
    expect(outputs.filter((url) => url.startsWith(`http://127.0.0.1:${servicePort}/files/`))).toHaveLength(11);
    expect(products.map((row) => row[4]).join(' ')).toContain(
      `http://127.0.0.1:${imagesPort}/products/does-not-exist.jpg`,
    );
  }, 120_000);

  it('refuses a DEMO_IMAGES_PORT that is not a port, before starting anything', async () => {
    env ??= testEnv();
    const run = await demo({ DEMO_IMAGES_PORT: '80a' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('DEMO_IMAGES_PORT must be a port number from 1 to 65535, not "80a"');
    expect(run.stdout).toBe('');
  });
});
