// Runs the main job end to end on this machine: the sample image server, the
// service (unless one already answers), then examples/products.csv through
// the CLI with a live progress bar, and the result CSV on disk. Whatever it
// started, it stops. Start it through scripts/demo (npm run demo), which builds first.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { sampleCsv } from '../examples/sample-csv.mjs';

/** A file of this repository, wherever the demo is run from (its outputs go under the working directory). */
const repo = (path) => fileURLToPath(new URL(`../${path}`, import.meta.url));

const SERVICE_URL = (process.env.PIXBATCH_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
// examples/products.csv is written for the sample image server on its default port, 8099.
const EXAMPLE_CSV = 'examples/products.csv';
const IMAGES_PORT = imagesPort(process.env.DEMO_IMAGES_PORT);
const IMAGES_URL = `http://127.0.0.1:${IMAGES_PORT}/products/1.jpg`;
const OUT_DIR = 'data/demo';
const RESULT = `${OUT_DIR}/products-result.csv`;
const SERVICE_LOG = `${OUT_DIR}/service.log`;
// The Node.js options `npm start` runs the service with.
const NODE_FLAGS = JSON.parse(await readFile(repo('package.json'), 'utf8'))
  .config.nodeFlags.split(' ')
  .filter(Boolean);

const started = [];

/** DEMO_IMAGES_PORT, default 8099: where the sample image server listens (or already answers). */
function imagesPort(text) {
  if (text === undefined || text === '') return 8099;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`demo: DEMO_IMAGES_PORT must be a port number from 1 to 65535, not ${JSON.stringify(text)}`);
    process.exit(1);
  }
  return port;
}

/**
 * The CSV to submit: the example itself on the default port, otherwise a copy
 * under OUT_DIR (same name, so the result is still products-result.csv) whose
 * image URLs name the chosen port.
 */
async function demoCsv() {
  if (IMAGES_PORT === 8099) return EXAMPLE_CSV;
  const copy = `${OUT_DIR}/products.csv`;
  await writeFile(copy, await sampleCsv(`http://127.0.0.1:${IMAGES_PORT}`));
  console.log(`Sample CSV: ${copy}, ${EXAMPLE_CSV} with its image URLs on port ${IMAGES_PORT}`);
  return copy;
}

async function answers(url) {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts a child and waits until `ready` answers; fails early, with its log, if the child exits first. */
async function startAndWait(name, args, env, ready, logFile, timeoutMs) {
  const log = createWriteStream(logFile);
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  started.push(child);
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await answers(ready))) {
    if (exited || Date.now() > deadline) {
      throw new Error(
        `${name} did not come up (${exited ? `exited with ${child.exitCode}` : 'timed out'}); see ${logFile}`,
      );
    }
    await sleep(250);
  }
}

async function stopAll() {
  await Promise.all(
    started.map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', resolve);
          child.kill('SIGTERM');
        }),
    ),
  );
}

async function main() {
  await mkdir(OUT_DIR, { recursive: true });
  const csv = await demoCsv();
  if (await answers(IMAGES_URL)) {
    console.log(`Sample images: already served on 127.0.0.1:${IMAGES_PORT}`);
  } else {
    console.log(`Sample images: starting examples/image-server.mjs on 127.0.0.1:${IMAGES_PORT}`);
    // An explicit port: the image server reads PORT, which may be set for pixbatch itself.
    await startAndWait(
      'The image server',
      [repo('examples/image-server.mjs'), String(IMAGES_PORT)],
      {},
      IMAGES_URL,
      `${OUT_DIR}/image-server.log`,
      60_000,
    );
  }
  const startedService = !(await answers(`${SERVICE_URL}/health/live`));
  if (!startedService) {
    console.log(
      `Service: using the one at ${SERVICE_URL} (it must run with ALLOW_PRIVATE_NETWORKS=true to fetch the sample images)`,
    );
  } else {
    const port = new URL(SERVICE_URL).port || '3000';
    console.log(`Service: starting pixbatch on port ${port} with ALLOW_PRIVATE_NETWORKS=true (log: ${SERVICE_LOG})`);
    // The private-network guard is opened for this process only: the sample images live on 127.0.0.1.
    // Liveness, not readiness: the app listens only once migrations ran and every module started.
    const env = { PORT: port, ALLOW_PRIVATE_NETWORKS: 'true' };
    await startAndWait(
      'pixbatch',
      [...NODE_FLAGS, repo('dist/src/main.js')],
      env,
      `${SERVICE_URL}/health/live`,
      SERVICE_LOG,
      90_000,
    );
  }
  console.log(`\n$ pixbatch submit ${csv} --wait -o ${RESULT}`);
  const cli = spawn(
    process.execPath,
    [
      repo('dist/src/cli/main.js'),
      'submit',
      csv === EXAMPLE_CSV ? repo(EXAMPLE_CSV) : csv,
      '--wait',
      '-o',
      RESULT,
      '--url',
      SERVICE_URL,
    ],
    {
      stdio: 'inherit',
    },
  );
  const code = await new Promise((resolve) => cli.once('exit', (exitCode) => resolve(exitCode ?? 1)));
  // One image of the sample is missing on purpose, so completed_with_errors (2) is the expected ending.
  if (code === 0 || code === 2) {
    const serving = startedService
      ? 'the demo stops its service now; scripts/start serves the output images again'
      : `${SERVICE_URL} serves the output images`;
    console.log(`\nDone: ${RESULT} lists every input URL beside its output URL (${serving}).`);
    return 0;
  }
  return code;
}

// Ctrl-C reaches the children too (same process group); staying alive lets the CLI print how to resume and this script stop the rest.
process.on('SIGINT', () => {});

let exitCode = 1;
try {
  exitCode = await main();
} catch (error) {
  console.error(`demo: ${error.message}`);
} finally {
  await stopAll();
}
process.exit(exitCode);
