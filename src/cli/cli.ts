import { createWriteStream, openAsBlob } from 'node:fs';
import { access, rename, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { RequestStatusDto } from '../../clients/typescript/src/index.js';
import { ApiCallError, OUTPUT_FORMATS, PixbatchApi, type SubmitOptions } from './pixbatch-api.js';
import { formatDuration, formatRerun, ProgressMeter, progressView } from './progress.js';

/** What the shell sees: scripts branch on these, so they never change meaning. */
export enum ExitCode {
  Completed = 0,
  UsageOrTransport = 1,
  CompletedWithErrors = 2,
  Failed = 3,
  Cancelled = 4,
  Interrupted = 130,
}

const TERMINAL_EXIT: Record<string, ExitCode> = {
  completed: ExitCode.Completed,
  completed_with_errors: ExitCode.CompletedWithErrors,
  failed: ExitCode.Failed,
  cancelled: ExitCode.Cancelled,
};

const POLL_MS = 500;
// A restarting server or a brief network fault should not end a long wait.
const MAX_POLL_FAILURES = 10;

export const USAGE = `Usage: pixbatch <command> [options]

Commands:
  submit <csv>          Upload a CSV of products and image URLs
  status <id>           Show a request's status, counts and first errors
  export <id>           Download the result CSV (to stdout unless -o is given)
  export <id> --zip     Download every output image and the result CSV as one ZIP
  list                  Your requests, newest first
  cancel <id>           Stop a pending or processing request; what is done stays exportable
  retry <id>            Queue a finished request's failed and cancelled images again

Options:
  --wait                submit, status, retry: wait for the end with a progress bar (live
                        from the server's event stream, else by polling); the exit code tells
                        how it ended (0 completed, 2 completed_with_errors, 3 failed, 4 cancelled)
  --transient           retry: only images that failed for a transient reason (and cancelled ones)
  -o, --output FILE     export: write the CSV (or ZIP) here; submit --wait: also download the result
  --zip                 export: the ZIP of a folder per product with its images, and the result CSV
  --webhook-url URL     submit: call this URL with a signed event when the request ends
  --resize FACTOR       submit: scale both sides, 0 < FACTOR <= 1 (e.g. 0.5)
  --max-width PX        submit: fit inside this width, aspect kept, never enlarged (not with --resize)
  --max-height PX       submit: fit inside this height, aspect kept, never enlarged (not with --resize)
  --quality Q           submit: encoder quality, 1 (smallest) to 100 (best); default 50
  --format F            submit: keep (default), jpeg, webp, avif or png
  --no-reuse            submit: fetch and compress every image anew, even one unchanged since an
                        earlier upload with the same options (by default its earlier output is copied)
  --status S[,S]        list: only these statuses (e.g. failed,completed_with_errors)
  --limit N             list: at most N requests (default 20, at most 200)
  --cursor C            list: the page after the one that printed this cursor
  --url URL             the pixbatch server (default $PIXBATCH_URL or http://localhost:3000)
  --api-key KEY         sent as x-api-key (default $PIXBATCH_API_KEY)
  -h, --help            show this help

Exit codes: 0 success, 1 usage or connection error, 2 completed_with_errors, 3 failed, 4 cancelled.`;

const OPTIONS = {
  wait: { type: 'boolean' },
  zip: { type: 'boolean' },
  transient: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  'webhook-url': { type: 'string' },
  resize: { type: 'string' },
  'max-width': { type: 'string' },
  'max-height': { type: 'string' },
  quality: { type: 'string' },
  format: { type: 'string' },
  'no-reuse': { type: 'boolean' },
  status: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  url: { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  env: Record<string, string | undefined>;
  /** Aborted when the user interrupts (Ctrl-C) a wait. */
  signal?: AbortSignal;
}

class UsageError extends Error {}

export async function run(argv: string[], io: CliIo): Promise<ExitCode> {
  const say = (line = '') => io.stdout.write(`${line}\n`);
  try {
    const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      say(USAGE);
      return values.help ? ExitCode.Completed : ExitCode.UsageOrTransport;
    }
    const api = new PixbatchApi(
      (values.url ?? io.env.PIXBATCH_URL ?? 'http://localhost:3000').replace(/\/+$/, ''),
      values['api-key'] ?? io.env.PIXBATCH_API_KEY,
    );
    if (command === 'list') return await list(api, rest, values, say);
    const target = single(rest, command === 'submit' ? 'a CSV file' : 'a request id');
    switch (command) {
      case 'submit':
        return await submit(api, target, values, io, say);
      case 'status':
        return await status(api, target, Boolean(values.wait), io, say);
      case 'cancel': {
        const cancelled = await api.cancel(target);
        say(`Request ${cancelled.requestId} cancelled`);
        summarize(cancelled, say);
        return ExitCode.Completed;
      }
      case 'retry': {
        const retried = await api.retry(target, Boolean(values.transient));
        say(`Request ${retried.requestId} queued again: ${retried.counts.images.pending} image(s) to do`);
        if (!values.wait) return ExitCode.Completed;
        const final = await waitForEnd(api, target, io);
        summarize(final, say);
        return TERMINAL_EXIT[final.status] ?? ExitCode.UsageOrTransport;
      }
      case 'export':
        if (values.zip) {
          // Binary on a terminal would only garble it.
          if (!values.output && io.stdout.isTTY)
            throw new UsageError('--zip needs -o FILE, or stdout redirected to a file');
          await download(() => api.archive(target), values.output, io);
          if (values.output) say(`ZIP written to ${values.output}`);
          return ExitCode.Completed;
        }
        await exportCsv(api, target, values.output, io);
        if (values.output) say(`Result CSV written to ${values.output}`);
        return ExitCode.Completed;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    return report(error, io);
  }
}

async function submit(
  api: PixbatchApi,
  path: string,
  values: SubmitFlags,
  io: CliIo,
  say: (line?: string) => void,
): Promise<ExitCode> {
  const options = submitOptions(values);
  if (values.output && !values.wait)
    throw new UsageError('--output with submit needs --wait (the result exists only at the end)');
  await access(path).catch(() => {
    throw new UsageError(`cannot read ${path}`);
  });
  // A file-backed Blob: the CSV is streamed from disk, not read into memory first.
  const file = new File([await openAsBlob(path, { type: 'text/csv' })], basename(path), { type: 'text/csv' });
  const created = await api.submit(file, options);
  say(
    `Submitted ${file.name}: request ${created.requestId} (${created.productCount} products, ${created.imageCount} images)`,
  );
  if (!values.wait) {
    say(`Follow it with: pixbatch status ${created.requestId} --wait`);
    return ExitCode.Completed;
  }
  const final = await waitForEnd(api, created.requestId, io);
  summarize(final, say);
  if (values.output) {
    await exportCsv(api, created.requestId, values.output, io);
    say(`Result CSV written to ${values.output}`);
  }
  return TERMINAL_EXIT[final.status] ?? ExitCode.UsageOrTransport;
}

interface SubmitFlags {
  wait?: boolean;
  output?: string;
  'webhook-url'?: string;
  resize?: string;
  'max-width'?: string;
  'max-height'?: string;
  quality?: string;
  format?: string;
  'no-reuse'?: boolean;
}

/**
 * Only what the CLI alone can tell is checked here (a flag that is not a
 * number); ranges and combinations are the server's, whose message is shown.
 */
function submitOptions(values: SubmitFlags): SubmitOptions {
  const number = (flag: 'resize' | 'max-width' | 'max-height' | 'quality') => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const parsed = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${flag} must be a number, got "${raw}"`);
    return parsed;
  };
  if (values.format !== undefined && !(OUTPUT_FORMATS as readonly string[]).includes(values.format)) {
    throw new UsageError(`--format must be one of ${OUTPUT_FORMATS.join(', ')}, got "${values.format}"`);
  }
  return {
    webhookUrl: values['webhook-url'],
    resize: number('resize'),
    maxWidth: number('max-width'),
    maxHeight: number('max-height'),
    quality: number('quality'),
    format: values.format as SubmitOptions['format'],
    // Sent only when off, as the page does: an upload without the field is the server's default, copying on.
    reuse: values['no-reuse'] ? false : undefined,
  };
}

async function status(
  api: PixbatchApi,
  id: string,
  wait: boolean,
  io: CliIo,
  say: (line?: string) => void,
): Promise<ExitCode> {
  const current = wait ? await waitForEnd(api, id, io) : await api.status(id);
  say(`Request ${current.requestId} (${current.originalFilename})`);
  summarize(current, say);
  return wait ? (TERMINAL_EXIT[current.status] ?? ExitCode.UsageOrTransport) : ExitCode.Completed;
}

/**
 * Follows the server's event stream while it lasts, then polls: right after
 * a terminal event that is one call for the full status (errors, webhook);
 * without a stream (an older server, a buffering proxy) it is the whole wait.
 */
async function waitForEnd(api: PixbatchApi, id: string, io: CliIo): Promise<RequestStatusDto> {
  const meter = new ProgressMeter();
  const view = progressView(io.stdout);
  let failures = 0;
  try {
    try {
      for await (const event of api.events(id, io.signal)) {
        view.update(meter.measure(event));
        if (TERMINAL_EXIT[event.status] !== undefined) break;
      }
    } catch (error) {
      if (io.signal?.aborted) throw error;
    }
    for (;;) {
      let current: RequestStatusDto;
      try {
        current = await api.status(id);
        failures = 0;
      } catch (error) {
        if (!(error instanceof ApiCallError) || !error.transient || ++failures > MAX_POLL_FAILURES) throw error;
        await sleep(POLL_MS * failures, undefined, { signal: io.signal });
        continue;
      }
      view.update(meter.measure(current));
      if (current.completed) return current;
      await sleep(POLL_MS, undefined, { signal: io.signal });
    }
  } catch (error) {
    if (io.signal?.aborted) throw new Interrupted(id);
    throw error;
  } finally {
    view.finish();
  }
}

class Interrupted extends Error {
  constructor(readonly requestId: string) {
    super('interrupted');
  }
}

function summarize(request: RequestStatusDto, say: (line?: string) => void): void {
  const { images, products } = request.counts;
  const took =
    request.startedAt && request.completedAt
      ? ` in ${formatDuration((Date.parse(request.completedAt) - Date.parse(request.startedAt)) / 1000)}`
      : '';
  say(`Status: ${request.status}${request.completed ? took : ` (${request.percent}%)`}`);
  const cancelled = images.cancelled > 0 ? `, ${images.cancelled} cancelled` : '';
  const { succeeded, failed, pending, total } = images;
  say(`Images: ${succeeded} succeeded, ${failed} failed${cancelled}, ${pending} pending, of ${total}`);
  const rerun = formatRerun(images);
  if (rerun) say(rerun);
  if (!request.options.reuse) say('Reuse: off, every image fetched and compressed anew');
  say(`Products: ${products.processed} of ${products.total} processed`);
  if (request.webhook) {
    const { state, attempts, url } = request.webhook;
    say(`Webhook: ${state}, ${attempts} attempt(s) to ${url}`);
  }
  if (request.errors.length > 0) {
    say(`First errors:`);
    for (const error of request.errors) {
      say(`  row ${error.row} (${error.productName}) ${error.url}: ${error.code} ${error.message}`);
    }
  }
}

async function exportCsv(api: PixbatchApi, id: string, output: string | undefined, io: CliIo): Promise<void> {
  await download(() => api.export(id), output, io);
}

/** To a file (written beside it and renamed, so a failed download leaves nothing half-written) or to stdout. */
async function download(
  fetchBody: () => Promise<ReadableStream<Uint8Array>>,
  output: string | undefined,
  io: CliIo,
): Promise<void> {
  const body = Readable.fromWeb(await fetchBody());
  if (!output) {
    await pipeline(body, io.stdout, { end: false });
    return;
  }
  const partial = `${output}.part`;
  try {
    await pipeline(body, createWriteStream(partial));
    await rename(partial, output);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

async function list(
  api: PixbatchApi,
  rest: string[],
  values: { status?: string; limit?: string; cursor?: string },
  say: (line?: string) => void,
): Promise<ExitCode> {
  if (rest.length > 0) throw new UsageError('list takes no arguments');
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 200)
    throw new UsageError('--limit is a whole number from 1 to 200');
  const page = await api.list({
    limit,
    cursor: values.cursor,
    status: values.status?.split(',') as RequestStatusDto['status'][] | undefined,
  });
  for (const item of page.items) {
    say(
      [
        item.requestId,
        item.status.padEnd(21),
        `${item.percent}%`.padStart(6),
        item.createdAt,
        item.originalFilename,
      ].join('  '),
    );
  }
  if (page.items.length === 0) say('No requests.');
  // The list is paged by cursor, so a page knows the total but not its own offset.
  else say(`${page.items.length} shown, ${page.total} in all${values.status ? ` with status ${values.status}` : ''}`);
  if (page.nextCursor)
    say(`More: pixbatch list --cursor ${page.nextCursor}${values.status ? ` --status ${values.status}` : ''}`);
  return ExitCode.Completed;
}

function single(values: string[], what: string): string {
  if (values.length !== 1)
    throw new UsageError(values.length === 0 ? `expected ${what}` : `expected one argument, got ${values.length}`);
  return values[0];
}

function report(error: unknown, io: CliIo): ExitCode {
  if (error instanceof Interrupted) {
    io.stderr.write(`Stopped waiting; the request goes on. Resume with: pixbatch status ${error.requestId} --wait\n`);
    return ExitCode.Interrupted;
  }
  if (error instanceof ApiCallError) {
    io.stderr.write(`error: ${error.message}\n${error.details.map((line) => `  ${line}\n`).join('')}`);
    return ExitCode.UsageOrTransport;
  }
  const argumentError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  if (error instanceof UsageError || argumentError) {
    io.stderr.write(`error: ${(error as Error).message}\nRun pixbatch --help for usage.\n`);
    return ExitCode.UsageOrTransport;
  }
  io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  return ExitCode.UsageOrTransport;
}
