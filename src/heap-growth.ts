import { setFlagsFromString } from 'node:v8';

/**
 * V8 lets the old generation grow to several times what survived the last
 * full collection before it collects again. An upload's products live for a
 * batch's INSERT (tens of milliseconds), long enough to be promoted, and die
 * right after: with the default growth a 100 000-row upload took the API from
 * 165 to 353 MB of RSS with nothing more than that garbage. Growing by half
 * at a time it peaks at 235-254 MB, acknowledged in 4.4-4.5 s; by a quarter,
 * 221 MB but 4.6-4.7 s of more collecting; by all of it, 278-284 MB and
 * 4.2-4.4 s (bench, section ingest, two runs each). Set before the service
 * is evaluated: set later, the peak stayed near 300 MB.
 */
const HEAP_GROWING_PERCENT = 50;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
