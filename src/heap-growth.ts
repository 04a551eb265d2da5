import { setFlagsFromString } from 'node:v8';

/**
 * V8 lets the old generation grow to several times what survived the last
 * full collection before it collects again. An upload's products live for a
 * batch's INSERT (tens of milliseconds), long enough to be promoted, and die
 * right after: with the default growth a 100 000-row upload took the API from
 * 165 to 353 MB of RSS with nothing more than that garbage; growing by a
 * quarter at a time it peaked at 222 MB, and the acknowledgement took as long
 * (bench, section ingest).
 */
const HEAP_GROWING_PERCENT = 25;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
