// npm run bench [-- --runs 3] [--only bare,script,split,all,status,formats,resize,memory,ingest,list,storage,archive,
//                                     sse,fairness,queue-memory,rerun,dispatch] [--lanes 4]
//               [--profile DIR] [--node-args='--trace-gc'] [--service-env=KEY=VALUE,...] [--keep-logs] [--smoke]
//               [--resize 0.5]
// Needs a build (npm run bench does it), PostgreSQL and Redis; see bench/README.md.
// --smoke (npm run bench:smoke): every section on tiny sizes (lib/sizes.mjs), for CI; exits non-zero when one fails.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import sharp from 'sharp';
import { bareLoop, serviceTransformer } from './lib/bare.mjs';
import { meanPsnr, productShots } from './lib/quality.mjs';
import { compareFormats, imageMagick, imageMagickGif, plainSharp, realImageFiles, flatGif } from './lib/formats.mjs';
import { loadCorpus } from './lib/corpus.mjs';
import { startImageServer } from './lib/image-server.mjs';
import { startPlainScript } from './lib/script-runner.mjs';
import {
  BenchEnvironment,
  THREAD_KINDS,
  processAndThreadStats,
  processStats,
  productCsv,
  resetPeak,
  threadCpuSeconds,
  upload,
  waitForTerminal,
} from './lib/service.mjs';
import { finalize, markAllSucceeded } from './lib/ingest.mjs';
import { CpuMeter, cpuBetween, cpuSecondsByCommand, printTable, summarize } from './lib/report.mjs';
import { startRedisServer } from './lib/redis-server.mjs';
import { startS3Server } from './lib/s3-server.mjs';
import { FULL, SMOKE } from './lib/sizes.mjs';

const SECTIONS = [
  'bare',
  'script',
  'split',
  'all',
  'status',
  'formats',
  'resize',
  'memory',
  'ingest',
  'list',
  'storage',
  'archive',
  'sse',
  'fairness',
  'queue-memory',
  'rerun',
  'dispatch',
];
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    only: { type: 'string', default: SECTIONS.join(',') },
    lanes: { type: 'string', default: '4' },
    // Writes V8 CPU profiles of the service processes (open them in Chrome DevTools).
    profile: { type: 'string' },
    // Extra Node.js options for the service processes, e.g. --node-args=--trace-gc.
    'node-args': { type: 'string' },
    // Extra environment for the service processes, e.g. --service-env=MALLOC_ARENA_MAX=2,WORKER_CONCURRENCY=6.
    'service-env': { type: 'string' },
    'keep-logs': { type: 'boolean', default: false },
    // bare, script, split and all resize by this factor (the upload's resize option), e.g. 0.5.
    resize: { type: 'string' },
    // Every section on tiny sizes: checks that the bench runs, measures nothing worth reading.
    smoke: { type: 'boolean', default: false },
  },
});
const runs = Number(args.runs);
const only = new Set(args.only.split(','));
const lanes = Number(args.lanes);
const RESIZE = args.resize === undefined ? null : Number(args.resize);
if (RESIZE !== null && !(RESIZE > 0 && RESIZE < 1))
  throw new Error(`--resize takes a factor between 0 and 1, got ${args.resize}`);
/** What the throughput sections' labels say they did besides quality 50. */
const RESIZED = RESIZE === null ? '' : `, resize ${RESIZE}`;
const size = args.smoke ? SMOKE : FULL;
const log = (message) => console.error(`· ${message}`);
const run = promisify(execFile);

const THROUGHPUT_SET = 'jpeg-1600';
const URLS_PER_PRODUCT = 3;
// Issue 23's targets for the pipeline's images/s over the bare loop's (over the plain script's: ≥ 1.0).
const BARE_TARGET = { split: 0.8, all: 0.85 };
const SERVICES = ['postgres', 'redis-server'];
// The sizes of every section (lib/sizes.mjs): full, or tiny with --smoke.
const WARM_UP_IMAGES = size.warmUpImages;
/**
 * The warm-up's URLs: the first images, under URLs of their own (the image server
 * ignores the query), so that the measured batch, with reuse on by default, finds
 * nothing remembered of them and encodes all of its images.
 */
const warmUpUrls = (urls) => urls.slice(0, WARM_UP_IMAGES).map((url) => `${url}?warm-up`);
const STATUS_RATE = size.statusRate;
const STATUS_SECONDS = size.statusSeconds;
const STATUS_WARM_UP_SECONDS = size.statusWarmUpSeconds;
const MEMORY_BATCHES = size.memoryBatches;
const LIST_REQUESTS = size.listRequests;
const LIST_CALLS = size.listCalls;
const ARCHIVE_PRODUCTS = size.archiveProducts;
const ARCHIVE_PER_PRODUCT = size.archivePerProduct;
const SSE_STREAMS = size.sseStreams;
const SSE_SECONDS = size.sseSeconds;
const WAIT = { timeoutMs: size.terminalTimeoutMs };
// fairness: the smallest JPEGs, so that it measures scheduling more than encoding, and two tenants.
const FAIRNESS_SET = 'jpeg-800';
const TENANT_KEYS = { alice: 'alice-key', bob: 'bob-key' };
const ALLOCATORS = [
  ['glibc', {}],
  ['glibc, MALLOC_ARENA_MAX=2', { MALLOC_ARENA_MAX: '2' }],
  ['jemalloc (LD_PRELOAD)', { LD_PRELOAD: 'libjemalloc.so.2' }],
];

console.log(
  `pixbatch bench${args.smoke ? ' (smoke: tiny sizes, figures not meaningful)' : ''}: ${availableParallelism()} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}, ` +
    `load average ${loadavg()[0].toFixed(2)}`,
);

const unknown = [...only].filter((section) => !SECTIONS.includes(section));
if (unknown.length > 0) throw new Error(`unknown section ${unknown.join(', ')}; sections: ${SECTIONS.join(', ')}`);

// The list, sse and dispatch sections make their rows in SQL, queue-memory's URLs are never fetched: on their own
// they skip generating the image corpus.
const NO_CORPUS = new Set(['list', 'sse', 'queue-memory', 'dispatch']);
const needsCorpus = [...only].some((section) => !NO_CORPUS.has(section));
const corpus = needsCorpus ? await loadCorpus(join(import.meta.dirname, size.corpusDir), log, size.sets) : {};
const server = await startImageServer(corpus, { catalogueSet: THROUGHPUT_SET });
const env = await BenchEnvironment.create();
if (size.deadlineMs) {
  // A hung section (a service that never finishes a request, a stream that never ends) fails the run, not CI's clock.
  setTimeout(() => {
    console.error(`bench: not finished after ${size.deadlineMs / 1000} s; giving up`);
    Promise.race([env.destroy({ keepLogs: args['keep-logs'] }), sleep(20_000)])
      .catch((error) => console.error(error))
      .finally(() => process.exit(1));
  }, size.deadlineMs).unref();
}
const results = [];
// A section that throws is reported and the next one still runs; the process then exits non-zero.
const failures = [];
try {
  for (let run = 1; run <= runs; run++) {
    log(`run ${run}/${runs}`);
    const metrics = {};
    const sections = {
      bare: () => bare(),
      script: () => plainScript(metrics),
      split: () => pipeline('split', metrics),
      all: () => pipeline('all', metrics),
      status: () => statusUnderLoad(),
      formats: () => formats(),
      resize: () => resize(),
      memory: () => workerMemory(),
      ingest: () => ingest(),
      list: () => listRequests(),
      storage: () => storage(),
      archive: () => archive(),
      sse: () => eventStreams(),
      fairness: () => fairness(),
      'queue-memory': () => queueMemory(),
      rerun: () => rerun(),
      dispatch: () => dispatchAtScale(),
    };
    for (const name of SECTIONS) {
      if (!only.has(name)) continue;
      const started = performance.now();
      try {
        Object.assign(metrics, await sections[name]());
        log(`${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      } catch (error) {
        failures.push({ name, run, error });
        log(`${name} FAILED after ${((performance.now() - started) / 1000).toFixed(1)} s: ${error?.stack ?? error}`);
      }
    }
    results.push(metrics);
  }
} finally {
  await env.destroy({ keepLogs: args['keep-logs'] });
  await server.close();
}
printTable(summarize(results));
if (failures.length > 0) {
  console.error(`\nbench: ${failures.length} section(s) failed:`);
  for (const { name, run, error } of failures) {
    console.error(`  ${name} (run ${run}): ${String(error?.message ?? error).split('\n')[0]}`);
  }
  process.exit(1);
}

async function bare() {
  const images = corpus[THROUGHPUT_SET];
  log(`bare sharp: ${images.length} × ${describeSet(THROUGHPUT_SET)}, ${lanes} lanes${RESIZED}`);
  await bareLoop(images.slice(0, WARM_UP_IMAGES), { lanes, resize: RESIZE });
  const cpu = await CpuMeter.start();
  const threadsBefore = await threadCpuSeconds(process.pid);
  const result = await bareLoop(images, { lanes, resize: RESIZE });
  const threadsAfter = await threadCpuSeconds(process.pid);
  const busy = await cpu.stop();
  return {
    'bare.others': metric(
      'bare sharp, CPU used by other programs',
      othersShare(busy, result.cpuMsPerImage * images.length),
      '%',
      0,
    ),
    'bare.perSecond': metric(`bare sharp, ${lanes} lanes${RESIZED}`, result.perSecond, 'img/s', 1),
    'bare.cpu': metric('bare sharp, CPU per image', result.cpuMsPerImage, 'ms', 1),
    ...threadRows('bare', 'bare sharp,', threadsBefore, threadsAfter, images.length),
    'bare.outIn': metric('bare sharp output/input bytes', result.bytesOut / result.bytesIn, '', 3),
  };
}

/** CPU per image by kind of thread (threadCpuSeconds) between two readings of one process. */
function threadRows(key, prefix, before, after, images) {
  return Object.fromEntries(
    THREAD_KINDS.map(([, kind]) => [
      `${key}.${kind}`,
      metric(`${prefix} ${kind} threads CPU per image`, ((after[kind] - before[kind]) / images) * 1000, 'ms', 1),
    ]),
  );
}

/**
 * What a user would write instead of the service (lib/plain-script.mjs): the
 * pipeline's URLs, each fetched, compressed by sharp at quality 50 in its format
 * (auto-oriented) and written to a temp dir, `lanes` at a time, in a child process
 * whose CPU is read from /proc as the service's is, after a warm-up of the first
 * WARM_UP_IMAGES URLs in the same process.
 */
async function plainScript(previous) {
  const images = corpus[THROUGHPUT_SET];
  log(`plain script (fetch, sharp, write): ${images.length} × ${describeSet(THROUGHPUT_SET)}, ${lanes} lanes`);
  const urls = images.map((image) => server.urlOf(THROUGHPUT_SET, image));
  const urlsFile = await env.writeFile('script-urls.txt', `${urls.join('\n')}\n`);
  const outDir = join(env.dir, 'script-out');
  await mkdir(outDir, { recursive: true });
  const proc = await startPlainScript({ urlsFile, outDir, lanes, warmUp: WARM_UP_IMAGES, resize: RESIZE });
  let measured;
  let exit;
  try {
    await resetPeak(proc.pid);
    const before = await processAndThreadStats(proc.pid);
    const cpu = await CpuMeter.start();
    const benchCpu = process.cpuUsage();
    const result = await proc.run();
    const busy = await cpu.stop();
    const benchCpuMs = (({ user, system }) => (user + system) / 1000)(process.cpuUsage(benchCpu));
    const after = await processAndThreadStats(proc.pid);
    measured = { result, busy, benchCpuMs, before, after };
  } finally {
    exit = await proc.close();
    await rm(outDir, { recursive: true, force: true });
  }
  if (exit.code !== 0) throw new Error(`plain script exited ${exit.signal ?? exit.code}:\n${exit.errors.slice(-2000)}`);
  const { result, busy, benchCpuMs, before, after } = measured;
  if (result.images !== images.length) throw new Error(`plain script did ${result.images} of ${images.length} images`);
  const perSecond = result.images / result.seconds;
  const perImage = (field) => ((after[field] - before[field]) / result.images) * 1000;
  const cpuMs = perImage('cpuSeconds');
  const label = 'plain script';
  const out = {
    // The bench process (the image server) is not another program.
    'script.others': metric(
      `${label}, CPU used by other programs`,
      othersShare(busy, cpuMs * result.images + benchCpuMs),
      '%',
      0,
    ),
    'script.perSecond': metric(`${label} (fetch, sharp q50, write), ${lanes} lanes${RESIZED}`, perSecond, 'img/s', 1),
    'script.cpu': metric(`${label}, CPU per image`, cpuMs, 'ms', 1),
    'script.mainCpu': metric(`${label}, JS thread CPU per image`, perImage('mainCpuSeconds'), 'ms', 1),
    ...threadRows('script', `${label},`, before.threadCpuSeconds, after.threadCpuSeconds, result.images),
    'script.peak': metric(`${label}, peak RSS`, after.peakMb, 'MB', 0),
    'script.outIn': metric(`${label}, output/input bytes`, result.bytesOut / result.bytesIn, '', 3),
  };
  if (previous['bare.perSecond']) {
    out['script.bareRatio'] = metric(`${label} / bare ratio`, perSecond / previous['bare.perSecond'].value, '', 2);
  }
  return out;
}

/** Upload → every image fetched, compressed, stored and counted → finalized, over HTTP. */
async function pipeline(mode, previous) {
  const images = corpus[THROUGHPUT_SET];
  log(`pipeline (${mode === 'split' ? 'APP_ROLE=api + APP_ROLE=worker' : 'APP_ROLE=all'}): ${images.length} images`);
  await env.reset();
  const options = { nodeArgs: nodeArgs(), env: serviceEnv() };
  const procs =
    mode === 'split'
      ? [await env.start('api', options), await env.start('worker', options)]
      : [await env.start('all', options)];
  const api = procs[0];
  const urls = images.map((image) => server.urlOf(THROUGHPUT_SET, image));

  // The first jobs pay for JIT compilation and connection pools, as the bare loop's warm-up does.
  const warmUp = await upload(api.baseUrl, productCsv(WARM_UP_IMAGES / 2, 2, warmUpUrls(urls)));
  await waitForTerminal(api.baseUrl, warmUp.requestId, WAIT);

  for (const proc of procs) await resetPeak(proc.pid);
  const stopAccount = await startCpuAccount(procs);
  const csv = productCsv(images.length / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls);
  const created = await upload(api.baseUrl, csv, RESIZE === null ? {} : { resize: RESIZE });
  const status = await waitForTerminal(api.baseUrl, created.requestId, { ...WAIT, intervalMs: 250 });
  const { busy, benchCpuMs, services, before, after } = await stopAccount();
  mustComplete(status, `pipeline (${mode})`);

  const seconds = (Date.parse(status.completedAt) - created.startedAt) / 1000;
  const perSecond = images.length / seconds;
  const [bytes] = await env.query(
    `SELECT sum(bytes_in)::float8 AS bytes_in, sum(bytes_out)::float8 AS bytes_out FROM image WHERE request_id = $1`,
    [created.requestId],
  );
  // Where upload→terminal goes besides the images: until the first chunk is claimed,
  // and from the last outcome to the terminal status.
  const [phases] = await env.query(
    `SELECT extract(epoch FROM r.started_at) * 1000 AS started, extract(epoch FROM r.completed_at) * 1000 AS completed,
            (SELECT extract(epoch FROM max(completed_at)) * 1000 FROM image WHERE request_id = r.id) AS last
       FROM processing_request r WHERE r.id = $1`,
    [created.requestId],
  );
  const label = mode === 'split' ? 'pipeline api+worker' : 'pipeline all-in-one';
  const out = {
    [`${mode}.perSecond`]: metric(`${label}, upload→terminal${RESIZED}`, perSecond, 'img/s', 1),
    [`${mode}.startMs`]: metric(`${label}, upload→first chunk claimed`, phases.started - created.startedAt, 'ms', 0),
    [`${mode}.endMs`]: metric(`${label}, last outcome→terminal`, phases.completed - phases.last, 'ms', 0),
    [`${mode}.ack`]: metric(`${label}, upload ack (${images.length} URLs)`, created.ackMs, 'ms', 0),
    [`${mode}.cpuBusy`]: metric(`${label}, machine CPU busy`, busy.share * 100, '%', 0),
    [`${mode}.outIn`]: metric(`${label}, output/input bytes`, bytes.bytes_out / bytes.bytes_in, '', 3),
  };
  if (previous['bare.perSecond']) {
    out[`${mode}.ratio`] = metric(
      `${label} / bare ratio (target ≥ ${BARE_TARGET[mode]})`,
      perSecond / previous['bare.perSecond'].value,
      '',
      2,
    );
  }
  if (previous['script.perSecond']) {
    out[`${mode}.scriptRatio`] = metric(
      `${label} / script ratio (target ≥ 1.0)`,
      perSecond / previous['script.perSecond'].value,
      '',
      2,
    );
  }
  procs.forEach((proc, index) => {
    out[`${mode}.${proc.role}.peak`] = metric(`${label}, ${proc.role} peak RSS`, after[index].peakMb, 'MB', 0);
    const perImage = (field) => ((after[index][field] - before[index][field]) / images.length) * 1000;
    out[`${mode}.${proc.role}.cpu`] = metric(`${label}, ${proc.role} CPU per image`, perImage('cpuSeconds'), 'ms', 1);
    out[`${mode}.${proc.role}.mainCpu`] = metric(
      `${label}, ${proc.role} JS thread CPU per image`,
      perImage('mainCpuSeconds'),
      'ms',
      1,
    );
    if (proc.role !== 'api') {
      const key = `${mode}.${proc.role}`;
      const { threadCpuSeconds: from } = before[index];
      Object.assign(out, threadRows(key, `${label}, ${proc.role}`, from, after[index].threadCpuSeconds, images.length));
    }
  });
  // CPU time, unlike wall time, barely moves when other work shares the machine:
  // the cost of the whole pipeline per image against the bare loop's.
  let pipelineCpuMs = procs.reduce((sum, _, i) => sum + after[i].cpuSeconds - before[i].cpuSeconds, 0);
  for (const name of SERVICES) {
    const seconds = services[name];
    pipelineCpuMs += seconds;
    out[`${mode}.${name}.cpu`] = metric(`${label}, ${name} CPU per image`, (seconds / images.length) * 1000, 'ms', 1);
  }
  pipelineCpuMs = (pipelineCpuMs / images.length) * 1000;
  out[`${mode}.cpuTotal`] = metric(`${label}, CPU per image, service + PostgreSQL + Redis`, pipelineCpuMs, 'ms', 1);
  if (previous['bare.cpu']) {
    out[`${mode}.cpuRatio`] = metric(
      `${label}, bare/pipeline CPU per image`,
      previous['bare.cpu'].value / pipelineCpuMs,
      '',
      2,
    );
  }
  if (previous['script.cpu']) {
    out[`${mode}.scriptCpuRatio`] = metric(
      `${label}, script/pipeline CPU per image`,
      previous['script.cpu'].value / pipelineCpuMs,
      '',
      2,
    );
  }
  // The bench process itself (image server, status polling) is not another program.
  const others = othersShare(busy, pipelineCpuMs * images.length + benchCpuMs);
  out[`${mode}.others`] = metric(`${label}, CPU used by other programs`, others, '%', 0);
  if (previous['bare.others']) {
    // On a shared machine: each rate divided by the share of the CPU that was left to it.
    const adjusted =
      perSecond / (1 - others / 100) / (previous['bare.perSecond'].value / (1 - previous['bare.others'].value / 100));
    out[`${mode}.adjustedRatio`] = metric(`${label} / bare ratio, adjusted for other programs`, adjusted, '', 2);
  }
  if (previous['script.others']) {
    const adjusted =
      perSecond /
      (1 - others / 100) /
      (previous['script.perSecond'].value / (1 - previous['script.others'].value / 100));
    out[`${mode}.scriptAdjustedRatio`] = metric(
      `${label} / script ratio, adjusted for other programs`,
      adjusted,
      '',
      2,
    );
  }
  await env.reset();
  return out;
}

/**
 * The same batch through an api + worker pair on each storage driver in turn,
 * in this run: the local disk, then STORAGE_DRIVER=s3 against s3rver on
 * loopback (in this process), so the figures differ only by the store.
 */
async function storage() {
  const images = corpus[THROUGHPUT_SET];
  const s3 = await startS3Server(join(env.dir, 's3'));
  const out = {};
  try {
    for (const [driver, driverEnv] of [
      ['local', {}],
      ['s3', s3.env],
    ]) {
      log(`storage (${driver}): ${images.length} images, api + worker`);
      await env.reset();
      const options = { nodeArgs: nodeArgs(), env: { ...serviceEnv(), ...driverEnv } };
      const [api] = [await env.start('api', options), await env.start('worker', options)];
      const urls = images.map((image) => server.urlOf(THROUGHPUT_SET, image));
      const warmUp = await upload(api.baseUrl, productCsv(WARM_UP_IMAGES / 2, 2, warmUpUrls(urls)));
      await waitForTerminal(api.baseUrl, warmUp.requestId, WAIT);
      const created = await upload(api.baseUrl, productCsv(images.length / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls));
      const status = await waitForTerminal(api.baseUrl, created.requestId, { ...WAIT, intervalMs: 250 });
      mustComplete(status, `storage (${driver})`);
      const perSecond = images.length / ((Date.parse(status.completedAt) - created.startedAt) / 1000);
      out[`storage.${driver}`] = metric(
        `storage ${driver === 's3' ? 'S3 (s3rver on loopback)' : 'local disk'}, upload→terminal`,
        perSecond,
        'img/s',
        1,
      );
    }
    out['storage.ratio'] = metric(
      'storage S3 / local ratio',
      out['storage.s3'].value / out['storage.local'].value,
      '',
      2,
    );
  } finally {
    await env.reset();
    await s3.close();
  }
  return out;
}

/**
 * The status endpoint's latency while a batch is processing: GETs sent at a
 * fixed rate (open loop, so a slow answer does not slow the sender down) for
 * STATUS_WARM_UP_SECONDS, then measured for STATUS_SECONDS, against an api +
 * worker pair busy with twice the JPEG set, from a separate process
 * (bench/lib/status-load.mjs).
 */
async function statusUnderLoad() {
  const images = corpus[THROUGHPUT_SET];
  log(`status: ${STATUS_RATE} GET/s for ${STATUS_WARM_UP_SECONDS} + ${STATUS_SECONDS} s during a batch`);
  await env.reset();
  // The default budget (1 200 a minute per client) would answer part of the load with
  // 429s, which cost the API almost nothing: a budget above it keeps every GET real.
  const budget = String(2 * STATUS_RATE * (STATUS_WARM_UP_SECONDS + STATUS_SECONDS + 60));
  const options = { nodeArgs: nodeArgs(), env: { RATE_LIMIT_PER_MINUTE: budget, ...serviceEnv() } };
  const [api] = [await env.start('api', options), await env.start('worker', options)];
  const urls = images.map((image) => server.urlOf(THROUGHPUT_SET, image));
  // A service that has run before, as the pipeline sections measure it: without this the
  // first second of the load met the worker's JIT compilation and new connections.
  const warmUp = await upload(api.baseUrl, productCsv(WARM_UP_IMAGES / 2, 2, warmUpUrls(urls)));
  await waitForTerminal(api.baseUrl, warmUp.requestId, WAIT);
  const created = await upload(api.baseUrl, productCsv((images.length * 2) / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls));
  const target = `${api.baseUrl}/api/v1/requests/${created.requestId}`;
  // What a GET costs the API: its CPU over the load, which is all it serves then.
  const stopAccount = await startCpuAccount([api]);
  // The same load first, unmeasured: the API's first few hundred GETs run before V8
  // has optimised their path, and took seconds to answer (their tail is reported apart).
  const { stdout } = await run(process.execPath, [
    join(import.meta.dirname, 'lib/status-load.mjs'),
    target,
    String(STATUS_RATE),
    String(STATUS_SECONDS),
    String(STATUS_WARM_UP_SECONDS),
  ]);
  const { before, after } = await stopAccount();
  const { warmUp: cold, measured } = JSON.parse(stdout);
  const { latencies, failures, busyAtEnd } = measured;
  const gets = cold.latencies.length + latencies.length;
  const perGet = (field) => ((after[0][field] - before[0][field]) / gets) * 1000;
  mustComplete(await waitForTerminal(api.baseUrl, created.requestId, WAIT), 'status');
  await env.reset();
  const quantile = (values, q) =>
    values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];
  const at = (q) => quantile(latencies, q);
  const label = `status GET at ${STATUS_RATE}/s during a batch`;
  if (!busyAtEnd) log('the batch finished before the status load did; the tail ran against an idle service');
  return {
    'status.p50': metric(`${label}: p50`, at(0.5), 'ms', 1),
    'status.p99': metric(`${label}: p99 (target < 20)`, at(0.99), 'ms', 1),
    'status.max': metric(`${label}: max`, latencies.at(-1), 'ms', 1),
    'status.coldP99': metric(
      `${label}: p99 of the unmeasured first ${STATUS_WARM_UP_SECONDS} s (cold API)`,
      quantile(cold.latencies, 0.99),
      'ms',
      1,
    ),
    'status.failures': metric(`${label}: failed`, failures, `/${STATUS_RATE * STATUS_SECONDS}`, 0),
    'status.apiCpu': metric(`${label}: API CPU per GET`, perGet('cpuSeconds'), 'ms', 2),
    'status.apiMainCpu': metric(`${label}: API JS thread CPU per GET`, perGet('mainCpuSeconds'), 'ms', 2),
  };
}

/** Each format through the service's transformer, with the speed per megapixel next to JPEG's. */
async function formats() {
  const out = {};
  let jpegMpxPerSecond;
  for (const name of ['jpeg-1200sq', 'png-1200sq', 'png-alpha-800', 'webp-1200sq', 'gif-anim-320']) {
    const set = size.sets[name];
    log(`format ${name}: ${corpus[name].length} × ${describeSet(name)}`);
    await bareLoop(corpus[name].slice(0, 2), { lanes });
    const result = await bareLoop(corpus[name], { lanes });
    const mpx = (set.width * set.height * (set.frames ?? 1)) / 1e6;
    const mpxPerSecond = result.perSecond * mpx;
    jpegMpxPerSecond ??= mpxPerSecond;
    out[`format.${name}.perSecond`] = metric(`${describeSet(name)}: images/s`, result.perSecond, 'img/s', 1);
    out[`format.${name}.slower`] = metric(
      `${describeSet(name)}: time per pixel vs JPEG`,
      jpegMpxPerSecond / mpxPerSecond,
      '×',
      2,
    );
    out[`format.${name}.outIn`] = metric(
      `${describeSet(name)}: output/input bytes`,
      result.bytesOut / result.bytesIn,
      '',
      3,
    );
    out[`format.${name}.kept`] = metric(`${describeSet(name)}: originals kept`, result.kept, `/${result.images}`, 0);
  }
  Object.assign(out, await formatsAgainstPlainSharp());
  return out;
}

/**
 * Issue 16 item 3: per format, the service's bytes and SSIM beside a plain sharp
 * script's (quality 50, default effort) on the same files, resized by half so that
 * no original is kept: the real-image fixture set (Debian) and corpus photos.
 * Times are medians of 3 (size.compareRuns; 1 in a smoke run), one image at a time.
 */
async function formatsAgainstPlainSharp() {
  const perFormat = {};
  const files = [
    ...(await realImageFiles()).filter(
      (file) => (perFormat[file.format] = (perFormat[file.format] ?? 0) + 1) <= size.realFilesPerFormat,
    ),
    ...['jpeg-1200sq', 'png-1200sq', 'webp-1200sq', 'gif-anim-320'].flatMap((name) =>
      corpus[name]
        .slice(0, size.corpusFilesPerSet)
        .map((image) => ({ name: image.name, format: size.sets[name].format, data: image.data })),
    ),
  ];
  for (const image of corpus['jpeg-1200sq'].slice(0, size.avifFiles)) {
    files.push({
      name: `${image.name}.avif`,
      format: 'avif',
      data: await sharp(image.data).avif({ quality: 80 }).toBuffer(),
    });
  }
  log(`formats vs plain sharp: ${files.length} files`);
  const rows = await compareFormats(files, serviceTransformer(), { resize: 0.5, runs: size.compareRuns });
  const out = {};
  for (const format of ['jpeg', 'png', 'webp', 'avif', 'gif']) {
    const of = rows.filter((row) => row.format === format);
    if (of.length === 0) continue;
    const sum = (pick) => of.reduce((total, row) => total + pick(row), 0);
    const mean = (pick) => sum(pick) / of.length;
    const what = `${format.toUpperCase()} vs plain sharp (${of.length} files, 50 %)`;
    Object.assign(out, {
      [`vsPlain.${format}.bytes`]: metric(
        `${what}: our bytes / plain sharp's`,
        sum((r) => r.ours.bytes) / sum((r) => r.plain.bytes),
        '',
        3,
      ),
      [`vsPlain.${format}.worst`]: metric(
        `${what}: worst file, our bytes / plain's`,
        Math.max(...of.map((r) => r.ours.bytes / r.plain.bytes)),
        '',
        3,
      ),
      [`vsPlain.${format}.ssim`]: metric(
        `${what}: mean SSIM, ours`,
        mean((r) => r.ours.ssim),
        '',
        4,
      ),
      [`vsPlain.${format}.plainSsim`]: metric(
        `${what}: mean SSIM, plain sharp`,
        mean((r) => r.plain.ssim),
        '',
        4,
      ),
      [`vsPlain.${format}.ms`]: metric(
        `${what}: ms per image, ours`,
        mean((r) => r.ours.ms),
        'ms',
        1,
      ),
      [`vsPlain.${format}.plainMs`]: metric(
        `${what}: ms per image, plain sharp`,
        mean((r) => r.plain.ms),
        'ms',
        1,
      ),
    });
  }
  const convert = await imageMagick();
  if (convert) {
    const gif = await flatGif();
    for (const resize of [null, 0.5]) {
      const ours = await serviceTransformer().transform(gif, { resize });
      const magick = await imageMagickGif(convert, gif, resize);
      const plain = await plainSharp(gif, 'gif', resize);
      const what = `flat-colour GIF ${resize ? 'at 50 %' : 'unresized'}`;
      out[`gifFlat.${resize ?? 1}.ours`] = metric(
        `${what}: our KB (ImageMagick ${(magick.length / 1024).toFixed(1)}, plain sharp ${(plain.length / 1024).toFixed(1)})`,
        ours.data.length / 1024,
        'KB',
        1,
      );
    }
  } else {
    log('ImageMagick is not installed (apt-get install imagemagick): no GIF comparison with it');
  }
  return out;
}

/** Resize mode (issue target: 80 images/s for 2000x1500 JPEGs at 50 %) through the service's transformer. */
async function resize() {
  const name = 'jpeg-2000';
  const set = corpus[name];
  const shots = await productShots(size.productShots);
  const out = {};
  // JPEG shrink on load (the opt-in, the default until issue 30), then every pixel decoded (the
  // default since). The keys keep the mode they measured before, so runs stay comparable.
  for (const [key, label, transformer] of [
    ['resize', 'shrink on load (JPEG_SHRINK_ON_LOAD=true)', serviceTransformer({ JPEG_SHRINK_ON_LOAD: 'true' })],
    ['resizeFull', 'full decode (default)', serviceTransformer()],
  ]) {
    log(`resize 0.5, ${label}: ${set.length} × ${describeSet(name)}, then ${shots.length} product shots`);
    await bareLoop(set.slice(0, 4), { lanes, resize: 0.5, transformer });
    const result = await bareLoop(set, { lanes, resize: 0.5, transformer, keep: true });
    const sample = set.slice(0, 12).map((image) => image.data);
    const shotResult = await bareLoop(shots, { lanes, resize: 0.5, transformer, keep: true });
    const shotInputs = shots.map((image) => image.data);
    const what = `${describeSet(name)} at 50 %, ${label}`;
    const target = key === 'resize' ? ' (target ≥ 80)' : '';
    Object.assign(out, {
      [`${key}.perSecond`]: metric(`${what}: images/s${target}`, result.perSecond, 'img/s', 1),
      [`${key}.cpu`]: metric(`${what}: CPU per image`, result.cpuMsPerImage, 'ms', 1),
      [`${key}.psnr`]: metric(
        `${what}: PSNR vs full-decode Lanczos, corpus`,
        await meanPsnr(sample, result.outputs),
        'dB',
        2,
      ),
      [`${key}.outIn`]: metric(`${what}: output/input bytes, corpus`, result.bytesOut / result.bytesIn, '', 3),
      [`${key}.shotPsnr`]: metric(
        `${what}: PSNR vs full-decode Lanczos, product shots`,
        await meanPsnr(shotInputs, shotResult.outputs),
        'dB',
        2,
      ),
      [`${key}.shotOutIn`]: metric(
        `${what}: output/input bytes, product shots`,
        shotResult.bytesOut / shotResult.bytesIn,
        '',
        3,
      ),
    });
  }
  return out;
}

/**
 * The worker's resident memory over consecutive batches, per memory allocator:
 * bounded means the last batch ends where the first did. Each batch is the
 * 1600x1200 JPEGs, the 1200x1200 PNGs and the 2000x1500 JPEGs, so buffers of
 * many sizes come and go.
 */
async function workerMemory() {
  const out = {};
  const urls = [THROUGHPUT_SET, 'png-1200sq', 'jpeg-2000'].flatMap((name) =>
    corpus[name].map((image) => server.urlOf(name, image)),
  );
  for (const [label, allocatorEnv] of ALLOCATORS) {
    if (allocatorEnv.LD_PRELOAD && !(await exists('/lib/x86_64-linux-gnu/libjemalloc.so.2'))) continue;
    log(`worker memory, ${label}: ${MEMORY_BATCHES} batches of ${urls.length} images`);
    await env.reset();
    const [api, worker] = [
      await env.start('api', { nodeArgs: nodeArgs() }),
      await env.start('worker', { nodeArgs: nodeArgs(), env: { ...allocatorEnv, ...serviceEnv() } }),
    ];
    const rss = [];
    for (let batch = 0; batch < MEMORY_BATCHES; batch++) {
      const created = await upload(api.baseUrl, productCsv(urls.length / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls));
      mustComplete(await waitForTerminal(api.baseUrl, created.requestId, WAIT), `memory (${label})`);
      rss.push((await processStats(worker.pid)).rssMb);
    }
    const key = `memory.${label.split(/[ ,]/)[0]}${allocatorEnv.MALLOC_ARENA_MAX ? '.arenas' : ''}`;
    const what = `worker RSS, ${label}`;
    out[`${key}.first`] = metric(`${what}, after batch 1`, rss[0], 'MB', 0);
    out[`${key}.last`] = metric(`${what}, after batch ${MEMORY_BATCHES}`, rss.at(-1), 'MB', 0);
    out[`${key}.peak`] = metric(`${what}, peak`, (await processStats(worker.pid)).peakMb, 'MB', 0);
  }
  await env.reset();
  return out;
}

async function exists(path) {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Acknowledgement time and API memory for large CSVs; no worker runs, so only
 * ingest is measured. Every image is recorded for work when the upload is
 * acknowledged (the dispatcher feeds workers from PostgreSQL), so the API's
 * memory a moment after the ack shows that nothing more happens after it. Then the export of
 * the 100 000-row request: every image is recorded as succeeded in SQL (as the
 * image jobs would have) and a worker runs only the request's finalize job,
 * which sets the terminal status and writes the webhook event (the result CSV
 * is built when GET .../export asks for it, not by finalize).
 */
async function ingest() {
  const out = {};
  for (const rows of size.ingestRows) {
    log(`ingest: ${rows} rows × ${URLS_PER_PRODUCT} URLs`);
    await env.reset();
    const api = await env.start('api', { nodeArgs: nodeArgs(), env: serviceEnv() });
    const urls = Array.from({ length: rows * URLS_PER_PRODUCT }, (_, i) => `https://images.example.com/p/${i}.jpg`);
    const csv = productCsv(rows, URLS_PER_PRODUCT, urls);
    const idle = await processStats(api.pid);
    await resetPeak(api.pid);
    const created = await upload(api.baseUrl, csv);
    const stats = await processStats(api.pid);
    await sleep(size.ingestSettleMs);
    const settled = await processStats(api.pid);
    const k = thousands(rows);
    out[`ingest.${k}.ack`] = metric(
      `ingest ${k} rows (${(csv.length / 2 ** 20).toFixed(1)} MB): ack`,
      created.ackMs,
      'ms',
      0,
    );
    out[`ingest.${k}.idle`] = metric(`ingest ${k} rows: API RSS before upload`, idle.rssMb, 'MB', 0);
    out[`ingest.${k}.peak`] = metric(`ingest ${k} rows: API peak RSS at the ack`, stats.peakMb, 'MB', 0);
    out[`ingest.${k}.settled`] = metric(
      `ingest ${k} rows: API RSS ${size.ingestSettleMs / 1000} s after the ack (at the ack ${stats.rssMb.toFixed(0)} MB)`,
      settled.rssMb,
      'MB',
      0,
    );
    if (rows === size.ingestRows.at(-1)) Object.assign(out, await exportOf(api, created.requestId, k));
  }
  await env.reset();
  return out;
}

/**
 * GET /api/v1/requests with LIST_REQUESTS requests in the table, 90 % of them
 * the caller's tenant: the first page, a page 20 pages deep (by cursor), a
 * status filter and a date window; median and p95 of LIST_CALLS sequential
 * calls each, over HTTP from this process.
 */
async function listRequests() {
  log(`list: ${LIST_REQUESTS} requests`);
  await env.reset();
  const api = await env.start('api', {
    nodeArgs: nodeArgs(),
    env: { ...serviceEnv(), API_KEYS: 'bench:bench-key,other:other-key' },
  });
  await env.query(
    `INSERT INTO processing_request (id, tenant, status, original_filename, options, columns, product_count, image_count,
                                     images_succeeded, images_failed, created_at, completed_at)
     SELECT gen_random_uuid(), CASE WHEN n % 10 = 0 THEN 'other' ELSE 'bench' END,
            (ARRAY['completed', 'completed_with_errors', 'failed', 'processing', 'pending'])[1 + n % 5]::request_status,
            'products-' || n || '.csv', '{"resize":null}', '["S. No.","Product Name","Input Image Urls"]', 100, 300, 290, 10,
            timestamp '2026-01-01' + n * interval '1 minute', timestamp '2026-01-01' + n * interval '1 minute' + interval '5 minutes'
       FROM generate_series(1, $1) AS n`,
    [LIST_REQUESTS],
  );
  await env.query('ANALYZE processing_request');
  const get = async (query) => {
    const response = await fetch(`${api.baseUrl}/api/v1/requests?${query}`, { headers: { 'x-api-key': 'bench-key' } });
    const body = await response.json();
    if (!response.ok) throw new Error(`list answered ${response.status}: ${JSON.stringify(body)}`);
    return body;
  };
  let deep = '';
  for (let page = 0; page < size.listDeepPages; page++)
    deep = (await get(`limit=50${deep && `&cursor=${deep}`}`)).nextCursor;
  const cases = [
    ['first', 'first page (50)', 'limit=50'],
    ['deep', `page ${size.listDeepPages + 1} by cursor (50)`, `limit=50&cursor=${deep}`],
    ['status', 'status=failed,pending (50)', 'limit=50&status=failed,pending'],
    [
      'window',
      'one day by createdAfter/Before (200)',
      'limit=200&createdAfter=2026-02-01T00:00:00Z&createdBefore=2026-02-02T00:00:00Z',
    ],
  ];
  const out = {};
  for (const [key, label, query] of cases) {
    for (let n = 0; n < size.listWarmUpCalls; n++) await get(query);
    const latencies = [];
    for (let n = 0; n < LIST_CALLS; n++) {
      const started = performance.now();
      await get(query);
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    out[`list.${key}.p50`] = metric(
      `list ${thousands(LIST_REQUESTS)}: ${label} p50`,
      latencies[Math.floor(LIST_CALLS / 2)],
      'ms',
      1,
    );
    out[`list.${key}.p95`] = metric(
      `list ${thousands(LIST_REQUESTS)}: ${label} p95`,
      latencies[Math.floor(LIST_CALLS * 0.95)],
      'ms',
      1,
    );
  }
  await env.stop(api);
  await env.reset();
  return out;
}

/**
 * GET /api/v1/requests/{id}/archive of a request of ARCHIVE_PRODUCTS x
 * ARCHIVE_PER_PRODUCT (5 000) images, local storage, read over HTTP as fast as
 * this process takes it: time, ZIP size and the API's peak RSS (the issue's
 * bound: under 300 MB). The outputs are recorded as succeeded in SQL and every
 * key is a hard link to one compressed corpus image, so the disk holds one file
 * while the archive still opens and reads 5 000.
 */
async function archive() {
  const count = ARCHIVE_PRODUCTS * ARCHIVE_PER_PRODUCT;
  log(`archive: ${count} images`);
  await env.reset();
  const api = await env.start('api', { nodeArgs: nodeArgs(), env: serviceEnv() });
  const urls = Array.from({ length: count }, (_, i) => `https://images.example.com/p/${i}.jpg`);
  const created = await upload(api.baseUrl, productCsv(ARCHIVE_PRODUCTS, ARCHIVE_PER_PRODUCT, urls));
  // No worker runs: the queued jobs are dropped and the outcomes written in SQL.
  await env.clearQueues();
  await markAllSucceeded(env, created.requestId);
  await env.query(`UPDATE processing_request SET status = 'completed', completed_at = now() WHERE id = $1`, [
    created.requestId,
  ]);
  const sample = await serviceTransformer().transform(corpus[THROUGHPUT_SET][0].data, { resize: null });
  const original = join(env.dir, 'archive-sample.jpg');
  await writeFile(original, sample.data);
  const keys = await env.query('SELECT output_key FROM image WHERE request_id = $1', [created.requestId]);
  for (const { output_key: key } of keys) {
    const path = join(env.dir, 'storage', ...key.split('/'));
    await mkdir(join(path, '..'), { recursive: true });
    await link(original, path);
  }
  const idle = await processStats(api.pid);
  await resetPeak(api.pid);
  const started = performance.now();
  const response = await fetch(`${api.baseUrl}/api/v1/requests/${created.requestId}/archive`);
  if (response.status !== 200) throw new Error(`archive answered ${response.status}: ${await response.text()}`);
  let bytes = 0;
  for await (const chunk of response.body) bytes += chunk.length;
  const ms = performance.now() - started;
  const stats = await processStats(api.pid);
  await env.stop(api);
  await env.reset();
  const k = thousands(count);
  return {
    [`archive.${k}.ms`]: metric(
      `archive ${k} images (${(sample.data.length / 1024).toFixed(0)} KB each): ZIP streamed in`,
      ms,
      'ms',
      0,
    ),
    [`archive.${k}.size`]: metric(`archive ${k} images: ZIP size`, bytes / 2 ** 20, 'MB', 0),
    [`archive.${k}.idle`]: metric(`archive ${k} images: API RSS before`, idle.rssMb, 'MB', 0),
    [`archive.${k}.peak`]: metric(`archive ${k} images: API peak RSS (bound 300 MB)`, stats.peakMb, 'MB', 0),
  };
}

/**
 * SSE_STREAMS event streams held open on one API process for SSE_SECONDS,
 * one per running request, while this process plays the workers: every
 * 250 ms it counts one more image on every request, straight in PostgreSQL,
 * as a worker on another machine would. Reports the API's resident memory
 * without streams, after the first seconds and at the end (flat means the
 * streams cost a fixed amount, not a growing one), its CPU, the events
 * received per second, how long an UPDATE took to reach the streams, and how
 * long all of them took to end once every request was finished.
 */
async function eventStreams() {
  log(`sse: ${SSE_STREAMS} streams for ${SSE_SECONDS} s`);
  await env.reset();
  const api = await env.start('api', { nodeArgs: nodeArgs(), env: serviceEnv() });
  const [{ ids }] = await env.query(
    `WITH made AS (
       INSERT INTO processing_request (id, status, original_filename, options, columns, product_count, image_count,
                                       created_at, started_at)
       SELECT gen_random_uuid(), 'processing', 'sse-' || n || '.csv', '{"resize":null}',
              '["S. No.","Product Name","Input Image Urls"]', 1000, 1000, now(), now()
         FROM generate_series(1, $1) AS n
       RETURNING id)
     SELECT array_agg(id) AS ids FROM made`,
    [SSE_STREAMS],
  );
  const idle = await processStats(api.pid);
  const bumpedAt = [];
  const latencies = [];
  let events = 0;
  const ended = [];
  const abort = new AbortController();
  const streams = ids.map(async (id) => {
    const response = await fetch(`${api.baseUrl}/api/v1/requests/${id}/events`, { signal: abort.signal });
    if (!response.ok) throw new Error(`events answered ${response.status}: ${await response.text()}`);
    const decoder = new TextDecoder();
    let partial = '';
    try {
      for await (const chunk of response.body) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          if (!line.startsWith('id: ')) continue;
          events++;
          const succeeded = Number(line.split('.')[1]);
          if (bumpedAt[succeeded]) latencies.push(performance.now() - bumpedAt[succeeded]);
        }
      }
      ended.push(performance.now());
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  });
  // Handled from the start: a stream that fails early fails the section, not the process.
  const streamsSettled = Promise.allSettled(streams);
  const cpuBefore = (await processStats(api.pid)).cpuSeconds;
  const samples = [];
  const started = performance.now();
  let ticks = 0;
  let sampledAt = started;
  for (let tick = 1; performance.now() - started < SSE_SECONDS * 1000; tick++) {
    bumpedAt[tick] = performance.now();
    await env.query('UPDATE processing_request SET images_succeeded = $1 WHERE id = ANY($2)', [tick, ids]);
    ticks = tick;
    if (performance.now() - sampledAt >= size.sseSampleSeconds * 1000) {
      sampledAt = performance.now();
      samples.push((await processStats(api.pid)).rssMb);
    }
    await sleep(250);
  }
  const stats = await processStats(api.pid);
  const seconds = (performance.now() - started) / 1000;
  const finishedAt = performance.now();
  await env.query(`UPDATE processing_request SET status = 'completed', completed_at = now() WHERE id = ANY($1)`, [ids]);
  const timeout = setTimeout(() => abort.abort(), 10_000);
  const failed = (await streamsSettled).find((result) => result.status === 'rejected');
  clearTimeout(timeout);
  if (failed) throw failed.reason;
  if (events === 0) throw new Error('sse: no event arrived on any stream');
  await env.stop(api);
  await env.reset();
  latencies.sort((a, b) => a - b);
  const label = `sse, ${SSE_STREAMS} streams on one API`;
  return {
    'sse.rss.idle': metric(`${label}: API RSS without streams`, idle.rssMb, 'MB', 0),
    'sse.rss.first': metric(`${label}: API RSS after ${size.sseSampleSeconds} s`, samples[0], 'MB', 0),
    'sse.rss.last': metric(`${label}: API RSS after ${SSE_SECONDS} s`, samples.at(-1), 'MB', 0),
    'sse.cpu': metric(`${label}: API CPU`, ((stats.cpuSeconds - cpuBefore) / seconds) * 100, '% of a core', 0),
    'sse.updates': metric(`${label}: counter updates (all requests at once)`, ticks / seconds, '/s', 1),
    'sse.events': metric(`${label}: events received (at most updates × ${SSE_STREAMS})`, events / seconds, '/s', 0),
    'sse.latency.p50': metric(`${label}: UPDATE to event p50`, latencies[Math.floor(latencies.length / 2)], 'ms', 0),
    'sse.latency.p95': metric(`${label}: UPDATE to event p95`, latencies[Math.floor(latencies.length * 0.95)], 'ms', 0),
    'sse.ended': metric(`${label}: streams ended after finish`, ended.length, `/${SSE_STREAMS}`, 0),
    'sse.end.max': metric(
      `${label}: last stream ended after`,
      ended.length ? Math.max(...ended) - finishedAt : NaN,
      'ms',
      0,
    ),
  };
}

/**
 * The fair scheduler, against an api + worker pair with two tenants (alice,
 * bob) on the smallest JPEGs. First a small request (3 images) uploaded while
 * alice's big one (30 000) is processing, by bob, then by alice herself: the
 * time from its upload to its terminal status, which should not depend on
 * the work queued before it. Then alice's two big requests and bob's one,
 * all with work left: the images done per request over a window (from
 * image.completed_at), each tenant's share of them and each of alice's
 * requests' share of hers.
 */
async function fairness() {
  const images = corpus[FAIRNESS_SET];
  const big = size.fairnessBigImages;
  const small = size.fairnessSmallImages;
  // A URL repeated within a request is fetched once, and one a tenant's earlier request
  // already encoded is copied (re-runs), in chunks that grow as copies are cheap: so every
  // URL is made distinct, within and across requests (the image server ignores the query
  // string), and every request is the same work.
  let batch = 0;
  const urls = (count) => {
    batch += 1;
    return Array.from(
      { length: count },
      (_, i) => `${server.urlOf(FAIRNESS_SET, images[i % images.length])}?batch=${batch}&n=${i}`,
    );
  };
  const as = (tenant) => ({ headers: { 'x-api-key': TENANT_KEYS[tenant] } });
  const send = (api, tenant, count) =>
    upload(api.baseUrl, productCsv(count / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls(count)), {}, as(tenant));
  const start = async () => {
    await env.reset();
    const options = {
      nodeArgs: nodeArgs(),
      env: {
        ...serviceEnv(),
        API_KEYS: Object.entries(TENANT_KEYS)
          .map((pair) => pair.join(':'))
          .join(','),
      },
    };
    const [api] = [await env.start('api', options), await env.start('worker', options)];
    const warmUp = await upload(
      api.baseUrl,
      productCsv(WARM_UP_IMAGES / 2, 2, warmUpUrls(urls(WARM_UP_IMAGES))),
      {},
      as('alice'),
    );
    mustComplete(await waitForTerminal(api.baseUrl, warmUp.requestId, { ...WAIT, ...as('alice') }), 'fairness warm-up');
    return api;
  };
  const out = {};
  const k = thousands(big);

  log(`fairness: ${small} images behind ${big} (${describeSet(FAIRNESS_SET)}), api + worker`);
  let api = await start();
  const behind = await send(api, 'alice', big);
  await waitForDone(behind.requestId);
  // Alice's chunks fill the window before the small request arrives.
  await sleep(size.fairnessSettleSeconds * 1000);
  for (const [key, tenant, whose] of [
    ['other', 'bob', `bob's, behind alice's`],
    ['same', 'alice', `alice's, behind her own`],
  ]) {
    const created = await upload(api.baseUrl, productCsv(1, small, urls(small)), {}, as(tenant));
    const status = await waitForTerminal(api.baseUrl, created.requestId, { ...WAIT, intervalMs: 100, ...as(tenant) });
    mustComplete(status, `fairness (${tenant}'s small request)`);
    out[`fairness.small.${key}`] = metric(
      `fairness: ${small} images (${whose} ${k}), upload→terminal (target < 10 s)`,
      (Date.parse(status.completedAt) - created.startedAt) / 1000,
      's',
      1,
    );
  }
  if ((await withWorkLeft([behind.requestId])).length === 0) {
    log('fairness: the big request ran out of work before the small ones were done; they did not wait behind it');
  }

  log(`fairness: alice's 2 × ${big} images and bob's ${big}, images done over ${size.fairnessWindowSeconds} s`);
  api = await start();
  const requests = [
    ['alice1', 'alice', await send(api, 'alice', big)],
    ['alice2', 'alice', await send(api, 'alice', big)],
    ['bob', 'bob', await send(api, 'bob', big)],
  ];
  const ids = requests.map(([, , created]) => created.requestId);
  for (const id of ids) await waitForDone(id);
  // The chunks queued before bob's request arrived are done, and every request has been served.
  await sleep(size.fairnessSettleSeconds * 1000);
  const [{ now: from }] = await env.query('SELECT clock_timestamp() AS now');
  await sleep(size.fairnessWindowSeconds * 1000);
  const [{ now: to }] = await env.query('SELECT clock_timestamp() AS now');
  const rows = await env.query(
    `SELECT request_id::text AS id, count(*)::int AS done, count(*) FILTER (WHERE status = 'failed')::int AS failed
       FROM image WHERE request_id = ANY($1) AND completed_at >= $2 AND completed_at < $3
        AND status IN ('succeeded', 'failed')
      GROUP BY request_id`,
    [ids, from, to],
  );
  const left = await withWorkLeft(ids);
  await env.reset();
  const failed = rows.reduce((sum, row) => sum + row.failed, 0);
  if (failed > 0) throw new Error(`fairness: ${failed} images failed in the window`);
  if (left.length < ids.length) log('fairness: a request ran out of work within the window; its shares mean little');
  const done = Object.fromEntries(
    requests.map(([name, , created]) => [name, rows.find((row) => row.id === created.requestId)?.done ?? 0]),
  );
  log(`fairness: images done in the window: alice ${done.alice1} + ${done.alice2}, bob ${done.bob}`);
  const alice = done.alice1 + done.alice2;
  const total = alice + done.bob;
  const seconds = (to - from) / 1000;
  const label = `fairness, alice 2 × ${k} + bob ${k} images over ${size.fairnessWindowSeconds} s`;
  return {
    ...out,
    'fairness.window.rate': metric(`${label}: images done`, total / seconds, 'img/s', 1),
    'fairness.share.alice': metric(`${label}: alice's share (target 40–60)`, (alice / total) * 100, '%', 1),
    'fairness.share.bob': metric(`${label}: bob's share (target 40–60)`, (done.bob / total) * 100, '%', 1),
    'fairness.share.alice1': metric(
      `${label}: alice's 1st request, share of hers (target 35–65)`,
      (done.alice1 / alice) * 100,
      '%',
      1,
    ),
    'fairness.share.alice2': metric(
      `${label}: alice's 2nd request, share of hers (target 35–65)`,
      (done.alice2 / alice) * 100,
      '%',
      1,
    ),
  };
}

/** Polls PostgreSQL until the request has an outcome for at least one image: it is being processed. */
async function waitForDone(requestId) {
  const started = performance.now();
  for (;;) {
    const [row] = await env.query(
      'SELECT status, images_succeeded + images_failed AS done FROM processing_request WHERE id = $1',
      [requestId],
    );
    if (row?.done > 0) return;
    if (performance.now() - started > size.terminalTimeoutMs) {
      throw new Error(`request ${requestId} has no image done after ${size.terminalTimeoutMs} ms (${row?.status})`);
    }
    await sleep(100);
  }
}

/** Of these requests, those with an image still waiting to be dispatched or worked on. */
async function withWorkLeft(requestIds) {
  const rows = await env.query(
    `SELECT r.id::text AS id FROM processing_request r
      WHERE r.id = ANY($1) AND EXISTS (SELECT 1 FROM image i WHERE i.request_id = r.id AND i.status = 'pending')`,
    [requestIds],
  );
  return rows.map((row) => row.id);
}

/**
 * Redis memory taken by an upload while no worker runs (API only): the
 * scheduler keeps image work in PostgreSQL and a bounded window of chunk jobs
 * in Redis, so used_memory should grow by the same small amount for N images
 * as for 100 N. Measured once the 202 has come and a couple of seconds have
 * passed, on a redis-server of its own (used_memory is the whole server's: on
 * the shared one, other clients move it; the shared one is used, and said so,
 * when redis-server is not installed); also what this deployment's keys take
 * (MEMORY USAGE), and the API's RSS before and after.
 */
async function queueMemory() {
  const out = {};
  const growth = [];
  for (const count of size.queueMemoryImages) {
    const k = thousands(count);
    log(`queue memory: ${count} images uploaded, API only`);
    await env.reset();
    const redis = await startRedisServer();
    if (!redis) log('queue memory: redis-server is not installed; measuring the shared Redis, other clients included');
    let measured;
    try {
      measured = await uploadWithoutWorker(count, redis?.url);
    } finally {
      // The API goes before its Redis server does.
      await env.reset();
      await redis?.close();
    }
    const { before, after, rssBefore, rssAfter } = measured;
    log(`queue memory: ${before.keys} → ${after.keys} keys under the deployment's prefix`);
    const bytes = after.usedMemory - before.usedMemory;
    growth.push(bytes);
    const label = `queue memory, ${k} images uploaded, no worker`;
    Object.assign(out, {
      [`queueMemory.${k}.growth`]: metric(`${label}: Redis used_memory growth`, bytes / 1024, 'KB', 1),
      [`queueMemory.${k}.perImage`]: metric(`${label}: Redis used_memory growth per image`, bytes / count, 'B', 2),
      [`queueMemory.${k}.keys`]: metric(
        `${label}: growth of this deployment's Redis keys (MEMORY USAGE)`,
        (after.keyBytes - before.keyBytes) / 1024,
        'KB',
        1,
      ),
      [`queueMemory.${k}.rssBefore`]: metric(`${label}: API RSS before the upload`, rssBefore, 'MB', 0),
      [`queueMemory.${k}.rssAfter`]: metric(
        `${label}: API RSS ${size.queueMemorySettleSeconds} s after the 202 (target: flat)`,
        rssAfter,
        'MB',
        0,
      ),
    });
  }
  const [first, last] = [size.queueMemoryImages[0], size.queueMemoryImages.at(-1)].map(thousands);
  out['queueMemory.difference'] = metric(
    `queue memory: Redis growth at ${last} minus at ${first} images (target within ±2 MB)`,
    (growth.at(-1) - growth[0]) / 2 ** 20,
    'MB',
    2,
  );
  return out;
}

/** queue-memory: an API process on `redisUrl` (the bench's Redis if not given), Redis memory and RSS around one upload. */
async function uploadWithoutWorker(count, redisUrl) {
  const api = await env.start('api', {
    nodeArgs: nodeArgs(),
    env: { ...serviceEnv(), ...(redisUrl && { REDIS_URL: redisUrl }) },
  });
  const urls = Array.from({ length: count }, (_, i) => `https://images.example.com/p/${i}.jpg`);
  const csv = productCsv(count / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls);
  const rssBefore = (await processStats(api.pid)).rssMb;
  const before = await env.redisMemory({ url: redisUrl });
  const created = await upload(api.baseUrl, csv);
  await sleep(size.queueMemorySettleSeconds * 1000);
  const after = await env.redisMemory({ url: redisUrl });
  const rssAfter = (await processStats(api.pid)).rssMb;
  const [{ images }] = await env.query(`SELECT count(*)::int AS images FROM image WHERE request_id = $1`, [
    created.requestId,
  ]);
  if (images !== count) throw new Error(`queue memory: ${images} of ${count} images stored`);
  return { before, after, rssBefore, rssAfter };
}

/** Node.js options for the service processes, after package.json's config.nodeFlags. */
function nodeArgs() {
  const extra = args['node-args']?.split(' ').filter(Boolean) ?? [];
  if (args.profile) extra.push('--cpu-prof', `--cpu-prof-dir=${args.profile}`);
  return extra;
}

function serviceEnv() {
  const pairs = args['service-env']?.split(',').filter(Boolean) ?? [];
  return Object.fromEntries(pairs.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
}

async function exportOf(api, requestId, k) {
  log(`export: ${k} rows`);
  await env.stop(api);
  // The image jobs would find their images done; only the finalize job is wanted.
  await env.clearQueues();
  await markAllSucceeded(env, requestId);
  const worker = await env.start('worker', { nodeArgs: nodeArgs(), env: serviceEnv() });
  const idle = await processStats(worker.pid);
  await resetPeak(worker.pid);
  const ms = await finalize(env, requestId, size.queueTimeoutMs);
  const stats = await processStats(worker.pid);
  await env.stop(worker);
  return {
    [`export.${k}.ms`]: metric(
      `export ${k} rows: finalize (status and webhook event only; the CSV is now built by GET .../export)`,
      ms,
      'ms',
      0,
    ),
    [`export.${k}.idle`]: metric(`export ${k} rows: worker RSS before`, idle.rssMb, 'MB', 0),
    [`export.${k}.peak`]: metric(`export ${k} rows: worker peak RSS`, stats.peakMb, 'MB', 0),
  };
}

/** Percentage of the machine's CPU that processes other than ours used, given our CPU milliseconds. */
function othersShare(busy, ourCpuMs) {
  return Math.max(0, (busy.busySeconds - ourCpuMs / 1000) / (busy.seconds * availableParallelism())) * 100;
}

/** Throws unless the request ended with every image done: a bench of failing images measures nothing. */
/**
 * A catalogue uploaded again (issue 31): RERUN_IMAGES distinct URLs, run
 * once, then with every RERUN_CHANGED_EVERY-th file changed (new bytes, and a
 * new ETag where the host sends one), as the same tenant, through an api +
 * worker pair on the local driver. Twice: a host with ETags (the re-run asks
 * with If-None-Match and copies on a 304) and one without validators (the
 * re-run downloads everything, and the bytes' hash spares the encode).
 * Checks that every unchanged output is byte-identical to the first run's and
 * every changed one differs.
 */
async function rerun() {
  const count = size.rerunImages;
  const every = size.rerunChangedEvery;
  const out = {};
  for (const mode of ['etag', 'plain']) {
    log(`rerun (${mode}): ${count} images, every ${every}th changed for the second run`);
    await env.reset();
    const options = { nodeArgs: nodeArgs(), env: serviceEnv() };
    const [api, worker] = [await env.start('api', options), await env.start('worker', options)];
    const urls = Array.from({ length: count }, (_, n) => server.catalogueUrl(mode, n));
    // Each URL once (a repeated URL is fetched once and copied, which this section does not measure).
    if (count % URLS_PER_PRODUCT !== 0) throw new Error(`rerunImages must be a multiple of ${URLS_PER_PRODUCT}`);
    const csv = productCsv(count / URLS_PER_PRODUCT, URLS_PER_PRODUCT, urls);
    const timed = async () => {
      const created = await upload(api.baseUrl, csv);
      const status = await waitForTerminal(api.baseUrl, created.requestId, { ...WAIT, intervalMs: 100 });
      mustComplete(status, `rerun (${mode})`);
      return {
        requestId: created.requestId,
        seconds: (Date.parse(status.completedAt) - created.startedAt) / 1000,
        status,
      };
    };
    server.takeCounts();
    const first = await timed();
    const firstAsked = server.takeCounts();
    const changed = new Set();
    for (let n = 0; n < count; n += every) {
      server.change(mode, n);
      changed.add(urls[n]);
    }
    // Where the second run's time goes: the machine's busy share and each process's CPU.
    const procs = [api, worker];
    const stopAccount = await startCpuAccount(procs);
    const second = await timed();
    const { busy, benchCpuMs, services, before, after } = await stopAccount();
    const asked = server.takeCounts();

    // Every output of the second run against the first run's for the same URL.
    const rows = await env.query(
      `SELECT a.input_url, a.output_key AS first_key, b.output_key AS second_key
         FROM image a JOIN image b ON b.input_url = a.input_url
        WHERE a.request_id = $1 AND b.request_id = $2`,
      [first.requestId, second.requestId],
    );
    const stored = (key) => readFile(join(env.dir, 'storage', ...key.split('/')));
    let identical = 0;
    let wrong = 0;
    for (const row of rows) {
      const same = (await stored(row.first_key)).equals(await stored(row.second_key));
      if (same === !changed.has(row.input_url)) identical += same ? 1 : 0;
      else wrong++;
    }
    if (rows.length !== count || wrong > 0) {
      throw new Error(
        `rerun (${mode}): ${wrong} of ${rows.length} outputs not as expected (unchanged identical, changed new)`,
      );
    }
    const label = `rerun, ${mode === 'etag' ? 'host with ETags' : 'host without validators'}`;
    const images = second.status.counts.images;
    Object.assign(out, {
      [`rerun.${mode}.first`]: metric(`${label}: first run`, first.seconds, 's', 2),
      [`rerun.${mode}.second`]: metric(`${label}: run again, ${changed.size} changed`, second.seconds, 's', 2),
      [`rerun.${mode}.speedup`]: metric(
        `${label}: first / again${mode === 'etag' ? ' (target ≥ 10)' : ''}`,
        first.seconds / second.seconds,
        '×',
        1,
      ),
      [`rerun.${mode}.firstFull`]: metric(`${label}: first run, full downloads`, firstAsked.fullBodies, '', 0),
      [`rerun.${mode}.conditional`]: metric(`${label}: again, conditional requests`, asked.conditional, '', 0),
      [`rerun.${mode}.notModified`]: metric(`${label}: again, answered 304`, asked.notModified, '', 0),
      [`rerun.${mode}.full`]: metric(`${label}: again, full downloads`, asked.fullBodies, '', 0),
      [`rerun.${mode}.encoded`]: metric(`${label}: again, encoded`, images.fetched ?? NaN, '', 0),
      [`rerun.${mode}.identical`]: metric(
        `${label}: again, outputs identical to the first run's`,
        identical,
        `/${count - changed.size}`,
        0,
      ),
      [`rerun.${mode}.cpuBusy`]: metric(`${label}: again, machine CPU busy`, busy.share * 100, '%', 0),
    });
    const perImage = (seconds) => (seconds / count) * 1000;
    procs.forEach((proc, index) => {
      const used = (field) => after[index][field] - before[index][field];
      out[`rerun.${mode}.${proc.role}.cpu`] = metric(
        `${label}: again, ${proc.role} CPU per image (JS thread ${perImage(used('mainCpuSeconds')).toFixed(2)})`,
        perImage(used('cpuSeconds')),
        'ms',
        2,
      );
    });
    for (const name of SERVICES) {
      out[`rerun.${mode}.${name}.cpu`] = metric(
        `${label}: again, ${name} CPU per image`,
        perImage(services[name]),
        'ms',
        2,
      );
    }
    out[`rerun.${mode}.bench.cpu`] = metric(
      `${label}: again, bench CPU per image (image server, status polls)`,
      perImage(benchCpuMs / 1000),
      'ms',
      2,
    );
  }
  await env.reset();
  return out;
}

/**
 * A dispatch pass's two statements that grow with the deployment, timed on
 * PostgreSQL alone: a request of `dispatchImages` waiting images (lib/sizes.mjs),
 * with a full window of `dispatchLanes` lanes in flight (two chunks of 16 per
 * lane: 400 lanes are 100 worker hosts of 4). The pass's state reads every image in
 * flight (the hosts' loads, the requests' waiting counts); a lease reads the
 * images it takes. Each lease is rolled back, so every one sees the same table.
 */
async function dispatchAtScale() {
  const { dispatchImages: images, dispatchLanes: lanes, dispatchCalls: calls } = size;
  const chunkSize = 16;
  const inFlight = 2 * lanes * chunkSize;
  log(`dispatch: ${thousands(images)} images waiting, ${thousands(inFlight)} in flight for ${lanes} lanes`);
  await env.reset();
  // The API creates and migrates the database; the statements then run on it alone.
  await env.stop(await env.start('api', { nodeArgs: nodeArgs(), env: serviceEnv() }));
  const { LEASE_NEXT_CHUNK, PASS_STATE } = await import('./.dist/src/products/image-dispatch.statements.js');
  const [{ id: requestId }] = await env.query(
    `INSERT INTO processing_request (id, options, columns, product_count, image_count, created_at, original_filename, status)
     VALUES (gen_random_uuid(), '{"resize":null}', '["S. No.","Product Name","Input Image Urls"]', $1, $1, now(), 'big.csv',
             'processing')
     RETURNING id`,
    [images],
  );
  await env.query(
    `INSERT INTO product (id, request_id, row_number, serial_number, name, cells, image_count)
     SELECT gen_random_uuid(), $1, n, n::text, 'SKU ' || n, '[]', 1 FROM generate_series(1, $2) AS n`,
    [requestId, images],
  );
  await env.query(
    `INSERT INTO image (id, request_id, product_id, position, input_url, source_host)
     SELECT gen_random_uuid(), $1, p.id, 0, 'http://images.example/' || p.row_number || '.jpg', 'images.example:80'
       FROM product p WHERE p.request_id = $1`,
    [requestId],
  );
  // The window: the last images of the request, CHUNK_SIZE to a chunk, leased.
  await env.query(
    `WITH last AS (SELECT id, (row_number() OVER (ORDER BY id DESC) - 1) / $1 AS chunk FROM image LIMIT $2),
          chunks AS (SELECT DISTINCT chunk, gen_random_uuid() AS chunk_id FROM last)
     UPDATE image i SET chunk_id = c.chunk_id, lease_until = now() + interval '1 hour'
       FROM last l JOIN chunks c USING (chunk) WHERE i.id = l.id`,
    [chunkSize, inFlight],
  );
  await env.query('VACUUM ANALYZE image');
  const client = new pg.Client({ connectionString: env.databaseUrl });
  await client.connect();
  const timed = async (statement, values, { rollBack }) => {
    const latencies = [];
    for (let n = 0; n < calls; n++) {
      if (rollBack) await client.query('BEGIN');
      const started = performance.now();
      await client.query({ name: statement.name, text: statement.text, values: statement.bind(values) });
      latencies.push(performance.now() - started);
      if (rollBack) await client.query('ROLLBACK');
    }
    return latencies.sort((a, b) => a - b)[Math.floor(calls / 2)];
  };
  try {
    const state = await timed(PASS_STATE, { deployment: 'bench' }, { rollBack: false });
    const lease = await timed(
      LEASE_NEXT_CHUNK,
      {
        chunkId: randomUUID(),
        requestId,
        tenant: 'default',
        deployment: 'bench',
        blocked: [],
        size: chunkSize,
        leaseMs: 60_000,
      },
      { rollBack: true },
    );
    const label = `dispatch, ${thousands(images)} images waiting, ${thousands(inFlight)} in flight (${lanes} lanes)`;
    return {
      'dispatch.passState': metric(`${label}: pass state p50`, state, 'ms', 2),
      'dispatch.lease': metric(`${label}: lease of ${chunkSize} p50`, lease, 'ms', 2),
    };
  } finally {
    await client.end();
    await env.reset();
  }
}

/**
 * Starts counting the CPU that the service processes `procs`, PostgreSQL, Redis,
 * this bench process (the image server, status polls) and the whole machine
 * spend; the function it returns stops and gives: the machine's busy share
 * (CpuMeter), the bench's CPU in ms, each of SERVICES' CPU in seconds, and each
 * process's stats before and after (processAndThreadStats).
 */
async function startCpuAccount(procs) {
  const before = await Promise.all(procs.map((proc) => processAndThreadStats(proc.pid)));
  const cpu = await CpuMeter.start();
  const benchCpu = process.cpuUsage();
  const servicesBefore = await cpuSecondsByCommand(SERVICES);
  return async () => {
    const busy = await cpu.stop();
    const { user, system } = process.cpuUsage(benchCpu);
    const servicesAfter = await cpuSecondsByCommand(SERVICES);
    const after = await Promise.all(procs.map((proc) => processAndThreadStats(proc.pid)));
    const services = Object.fromEntries(
      SERVICES.map((name) => [name, cpuBetween(servicesBefore[name], servicesAfter[name])]),
    );
    return { busy, benchCpuMs: (user + system) / 1000, services, before, after };
  };
}

function mustComplete(status, what) {
  if (status.status !== 'completed')
    throw new Error(`${what} ended ${status.status}: ${JSON.stringify(status.errors)}`);
}

/** 100000 → "100k", 600 → "600". */
function thousands(n) {
  return n >= 1000 ? `${n / 1000}k` : String(n);
}

function metric(label, value, unit, digits) {
  // A figure with nothing to measure (e.g. no latency sample) prints as NaN.
  return { label, value: value ?? NaN, unit, digits };
}

function describeSet(name) {
  const set = size.sets[name];
  const frames = set.frames ? ` × ${set.frames} frames` : '';
  return `${set.format.toUpperCase()}${set.alpha ? '+alpha' : ''} ${set.width}×${set.height}${frames}`;
}
