import { type CsvEncoding, NotCsvError, SpreadsheetFileError } from './csv-contract.js';

/** Enough of the upload to tell its encoding or a workbook's signature. */
const SNIFF_BYTES = 8;
const XLSX_SIGNATURE = Buffer.from('PK\x03\x04', 'latin1');
const XLS_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** Replays `first`, then the rest of `rest`, releasing the source however the reader stops. */
export async function* replay(first: Buffer, rest: AsyncIterator<Buffer | string>): AsyncGenerator<Buffer> {
  try {
    if (first.length > 0) yield first;
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
    }
  } finally {
    await rest.return?.();
  }
}

/** Reads from `source` until `enough` says the bytes so far suffice or the upload ends. */
export async function readHead(
  source: AsyncIterator<Buffer | string>,
  enough: (head: Buffer) => boolean,
): Promise<{ head: Buffer; ended: boolean }> {
  const pieces: Buffer[] = [];
  let head = Buffer.alloc(0);
  while (!enough(head)) {
    const next = await source.next();
    if (next.done) return { head, ended: true };
    pieces.push(typeof next.value === 'string' ? Buffer.from(next.value) : next.value);
    head = Buffer.concat(pieces);
  }
  return { head, ended: false };
}

/**
 * The upload as UTF-8 bytes, streamed. A UTF-16 file must start with its BOM
 * (as spreadsheets write it) and is transcoded chunk by chunk; anything else
 * must already be UTF-8, which is passed on unchanged. Excel workbooks are told
 * apart from other binary so that the user learns how to save them as CSV.
 */
export async function decodeText(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
): Promise<{ encoding: CsvEncoding; chunks: AsyncIterable<Buffer> }> {
  const source = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  let head: Buffer;
  try {
    ({ head } = await readHead(source, (bytes) => bytes.length >= SNIFF_BYTES));
    if (head.subarray(0, XLSX_SIGNATURE.length).equals(XLSX_SIGNATURE)) throw new SpreadsheetFileError('xlsx');
    if (head.subarray(0, XLS_SIGNATURE.length).equals(XLS_SIGNATURE)) throw new SpreadsheetFileError('xls');
  } catch (error) {
    await source.return?.();
    throw error;
  }
  const encoding: CsvEncoding =
    head[0] === 0xff && head[1] === 0xfe ? 'utf-16le' : head[0] === 0xfe && head[1] === 0xff ? 'utf-16be' : 'utf-8';
  const chunks = replay(head, source);
  return { encoding, chunks: encoding === 'utf-8' ? checkedUtf8(chunks) : transcodedUtf16(chunks, encoding) };
}

function notUtf8(): NotCsvError {
  return new NotCsvError(
    'The file is not UTF-8 text (nor UTF-16 with a byte order mark); save it as "CSV UTF-8" and upload it again.',
  );
}

function nulBytes(): NotCsvError {
  return new NotCsvError(
    'The file holds binary data (NUL bytes), so it is not a CSV; if it is text, save it as "CSV UTF-8" ' +
      '(or UTF-16 with a byte order mark) and upload it again.',
  );
}

/**
 * Passes the upload on unchanged while proving it is UTF-8 text. The decoder
 * runs in streaming mode so a character split across chunks is not mistaken for
 * an invalid one; NUL is rejected because no text CSV holds it (and PostgreSQL
 * text cannot store it).
 */
async function* checkedUtf8(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for await (const bytes of chunks) {
    if (bytes.includes(0)) throw nulBytes();
    try {
      decoder.decode(bytes, { stream: true });
    } catch {
      throw notUtf8();
    }
    yield bytes;
  }
  try {
    decoder.decode();
  } catch {
    throw notUtf8();
  }
}

/** UTF-16 in, UTF-8 out, a chunk at a time; the decoder drops the BOM and keeps pairs split across chunks. */
async function* transcodedUtf16(
  chunks: AsyncIterable<Buffer>,
  encoding: 'utf-16le' | 'utf-16be',
): AsyncGenerator<Buffer> {
  const decoder = new TextDecoder(encoding, { fatal: true });
  const checked = (text: string): Buffer => {
    if (text.includes('\0')) throw nulBytes();
    return Buffer.from(text);
  };
  for await (const bytes of chunks) {
    let text: string;
    try {
      text = decoder.decode(bytes, { stream: true });
    } catch {
      throw notUtf8();
    }
    if (text !== '') yield checked(text);
  }
  let rest: string;
  try {
    rest = decoder.decode();
  } catch {
    throw notUtf8();
  }
  if (rest !== '') yield checked(rest);
}
