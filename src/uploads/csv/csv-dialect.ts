import { mapHeader } from './csv-columns.js';
import {
  CSV_DELIMITERS,
  type CsvDelimiter,
  type CsvDialect,
  type CsvEncoding,
  IssueCollector,
} from './csv-contract.js';
import { readHead, replay } from './csv-decoding.js';

/**
 * How much of the upload is held to find the header line. A header longer than
 * this is read with the default delimiter and reported as it comes out.
 */
const HEAD_LIMIT_BYTES = 64 * 1024;

const LINE = /\r\n|\r|\n/;
const SEP_LINE = /^"?sep=(.)"?[ \t]*$/i;

/**
 * Finds the delimiter before csv-parse starts: Excel's `sep=` first line names
 * it (and is removed, as it is no record); otherwise the header line decides.
 * Only the head of the upload is held for this, up to its header line.
 */
export async function recogniseDialect(
  chunks: AsyncIterable<Buffer>,
  encoding: CsvEncoding,
): Promise<{ dialect: CsvDialect; text: AsyncIterable<Buffer>; linesSkipped: number }> {
  const source = chunks[Symbol.asyncIterator]();
  let found: HeadLines | null = null;
  let head: Buffer;
  try {
    ({ head } = await readHead(source, (bytes) => {
      found = headLines(bytes.toString('utf8'), false);
      return found !== null || bytes.length >= HEAD_LIMIT_BYTES;
    }));
  } catch (error) {
    await source.return?.();
    throw error;
  }
  const lines: HeadLines = found ?? headLines(head.toString('utf8'), true)!;
  const delimiter = lines.sep ?? detectDelimiter(lines.header);
  if (lines.sep !== null) head = head.subarray(Buffer.byteLength(lines.sepText));
  return {
    dialect: { delimiter, encoding, sepLine: lines.sep !== null },
    text: replay(head, source),
    linesSkipped: lines.sep === null ? 0 : 1,
  };
}

interface HeadLines {
  /** The delimiter a `sep=` first line names, with `sepText` the bytes it takes (BOM and line break included). */
  sep: CsvDelimiter | null;
  sepText: string;
  header: string;
}

/** The header line (after a `sep=` line), or null while more text is needed to be sure of it. */
function headLines(text: string, ended: boolean): HeadLines | null {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const first = LINE.exec(body);
  if (first === null && !ended) return null;
  const firstLine = first === null ? body : body.slice(0, first.index);
  const sepMatch = SEP_LINE.exec(firstLine);
  const sep =
    sepMatch && (CSV_DELIMITERS as readonly string[]).includes(sepMatch[1]) ? (sepMatch[1] as CsvDelimiter) : null;
  let rest = body;
  let sepText = '';
  if (sep !== null && first !== null) {
    sepText = text.slice(0, text.length - body.length + first.index + first[0].length);
    rest = body.slice(first.index + first[0].length);
  }
  // Blank lines may come before the header; the first line with text is it.
  for (let offset = 0; ;) {
    const match = LINE.exec(rest.slice(offset));
    if (match === null) return ended ? { sep, sepText, header: rest.slice(offset) } : null;
    const line = rest.slice(offset, offset + match.index);
    // A lone \r at the end may be half of a CRLF: wait for the next byte.
    if (line.trim() !== '' && !(match[0] === '\r' && offset + match.index + 1 === rest.length && !ended)) {
      return { sep, sepText, header: line };
    }
    offset += match.index + match[0].length;
  }
}

/** Header cells split on `delimiter` outside quotes, unquoted and trimmed; enough to recognise a header. */
function splitHeaderLine(line: string, delimiter: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const char = line[i];
    if (char === '"') {
      if (quoted && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (char === delimiter && !quoted) {
      cells.push(cell.trim());
      cell = '';
    } else {
      cell += char;
    }
  }
  cells.push(cell.trim());
  return cells;
}

/**
 * The delimiter under which the header names every required column (the most
 * columns wins should several); failing that, the one splitting it most, so
 * that the error can say what the header seemed to be.
 */
function detectDelimiter(header: string): CsvDelimiter {
  let best: { delimiter: CsvDelimiter; fits: boolean; columns: number } | null = null;
  for (const delimiter of CSV_DELIMITERS) {
    const columns = splitHeaderLine(header, delimiter);
    const fits = mapHeader(columns, 0, new IssueCollector(), null) !== null;
    const better = best === null || (fits && !best.fits) || (fits === best.fits && columns.length > best.columns);
    if (better) best = { delimiter, fits, columns: columns.length };
  }
  return best!.delimiter;
}
