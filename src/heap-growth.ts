import { setFlagsFromString } from 'node:v8';

/**
 * V8 lets the old generation grow to several times what survived the last
 * full collection before it collects again. An upload's products live for a
 * batch's INSERT (tens of milliseconds), long enough to be promoted, and die
 * right after: with the default growth a 100 000-row upload took the API from
 * 165 to 394 MB of RSS with nothing more than that garbage. Growing by at
 * most its own size at a time, it peaks at 275 MB, acknowledged in 4.3 s;
 * by half, 243 MB in 4.5 s; by a quarter, 221 MB in 4.6-4.7 s (bench,
 * section ingest, medians of 3 and 2). Set before the service is evaluated:
 * set later, the peak stayed near 300 MB.
 */
const HEAP_GROWING_PERCENT = 100;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
