// Every size the bench's sections use, in one place: FULL for measuring, SMOKE
// (`npm run bench -- --smoke`) for checking in CI that every section still runs,
// through the same code, in a few seconds each. Only sizes differ between the two.
import { SETS } from './corpus.mjs';

export const FULL = {
  // The image corpus: where it is cached (under bench/) and how many images of each set.
  corpusDir: '.corpus',
  sets: SETS,
  // bare, script, split, all, storage (and fairness, on its own set): the first images, done before the
  // measured batch (by the script in its own process; by the service as a request of their own).
  warmUpImages: 8,
  // status: GETs per second, for how long.
  statusRate: 200,
  statusSeconds: 5,
  statusWarmUpSeconds: 3,
  // formats vs plain sharp: real-image fixture files per format, corpus files per set,
  // AVIFs made from corpus JPEGs, runs per file (the median is reported).
  realFilesPerFormat: Infinity,
  corpusFilesPerSet: 6,
  avifFiles: 3,
  compareRuns: 3,
  // resize: product-shot-like images beside the corpus.
  productShots: 12,
  // memory: batches per allocator.
  memoryBatches: 4,
  // ingest: CSV sizes in rows (the export runs on the last one).
  ingestRows: [10_000, 100_000],
  // The API's memory is read again this long after the ack: flat, since nothing is queued after it.
  ingestSettleMs: 2000,
  // list: requests in the table, calls measured per case (after warm-up calls), pages followed by cursor.
  listRequests: 100_000,
  listCalls: 200,
  listWarmUpCalls: 20,
  listDeepPages: 20,
  // archive: products × images per product.
  archiveProducts: 1000,
  archivePerProduct: 5,
  // sse: streams held open, for how long, and how often the API's RSS is sampled.
  sseStreams: 500,
  sseSeconds: 30,
  sseSampleSeconds: 5,
  // fairness: images of each big request (distinct URLs over the 800×600 JPEGs), of the small one
  // uploaded behind a big one, the wait for the scheduler to settle after the uploads, and the window
  // over which images done per request are counted.
  fairnessBigImages: 30_000,
  fairnessSmallImages: 3,
  fairnessSettleSeconds: 2,
  fairnessWindowSeconds: 30,
  // queue-memory: images per upload with no worker running (CSVs of n / 3 rows × 3 URLs), and how
  // long after the 202 Redis and the API are measured.
  queueMemoryImages: [3_000, 300_000],
  queueMemorySettleSeconds: 2,
  // rerun: a catalogue of this many images (the throughput set's files under distinct URLs),
  // uploaded again with every 1/rerunChangedEvery-th file changed (5 %).
  rerunImages: 3_000,
  rerunChangedEvery: 20,
  // dispatch: a request's waiting images, the lanes whose window is in flight, calls timed per statement.
  dispatchImages: 100_000,
  dispatchLanes: 400,
  dispatchCalls: 50,
  // How long to wait for a request to finish, for jobs to be queued, for a finalize.
  terminalTimeoutMs: 600_000,
  queueTimeoutMs: 300_000,
  // The whole run, after which the bench gives up (none).
  deadlineMs: null,
};

// A few images per set, in a cache of their own (inside bench/.corpus, so it is
// gitignored and skipped by Prettier and ESLint like the full one, whose manifest
// it leaves alone).
const SMOKE_COUNTS = {
  'jpeg-1600': 6,
  'jpeg-2000': 4,
  'jpeg-1200sq': 2,
  'jpeg-800': 1,
  'png-1200sq': 2,
  'png-alpha-800': 1,
  'webp-1200sq': 2,
  'gif-anim-320': 1,
};

export const SMOKE = {
  ...FULL,
  corpusDir: '.corpus/smoke',
  sets: Object.fromEntries(Object.entries(SETS).map(([name, set]) => [name, { ...set, count: SMOKE_COUNTS[name] }])),
  warmUpImages: 2,
  statusRate: 20,
  statusSeconds: 2,
  statusWarmUpSeconds: 1,
  realFilesPerFormat: 2,
  corpusFilesPerSet: 1,
  avifFiles: 1,
  compareRuns: 1,
  productShots: 2,
  memoryBatches: 2,
  // 6 000 rows: past the 5 000 the intake buffers before it opens its transaction, and
  // more jobs than it queues before the 202 (the rest are read back a page at a time).
  ingestRows: [100, 6000],
  ingestSettleMs: 500,
  listRequests: 600,
  listCalls: 10,
  listWarmUpCalls: 2,
  listDeepPages: 3,
  archiveProducts: 20,
  archivePerProduct: 5,
  sseStreams: 5,
  sseSeconds: 3,
  sseSampleSeconds: 1,
  // Big enough that the big requests still have work when the small one is done and when the window ends.
  fairnessBigImages: 1_500,
  fairnessSettleSeconds: 1,
  fairnessWindowSeconds: 3,
  queueMemoryImages: [30, 3_000],
  rerunImages: 42,
  dispatchImages: 2_000,
  dispatchLanes: 8,
  dispatchCalls: 5,
  terminalTimeoutMs: 120_000,
  queueTimeoutMs: 120_000,
  deadlineMs: 15 * 60_000,
};
