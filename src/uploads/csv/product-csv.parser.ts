import { pipeline } from 'node:stream/promises';
import { CsvError, parse, type InfoRecord } from 'csv-parse';

export interface CsvLimits {
  csvRows: number;
  urlsPerRow: number;
  urlLength: number;
}

export interface ParsedProduct {
  /** 1-based index among the non-blank data rows (header excluded). */
  rowNumber: number;
  /** 1-based physical line where the record starts in the file. */
  line: number;
  serialNumber: string;
  name: string;
  /** Normalized absolute http(s) URLs in cell order; duplicates kept so output stays aligned. */
  urls: string[];
  /** Every cell of the row as uploaded (untrimmed), aligned with `CsvSummary.columns`. */
  cells: string[];
}

/** The field separators a header may use; anything else is not a CSV we read. */
export const CSV_DELIMITERS = [',', ';', '\t', '|'] as const;
export type CsvDelimiter = (typeof CSV_DELIMITERS)[number];
export type CsvEncoding = 'utf-8' | 'utf-16le' | 'utf-16be';

/** How the upload was written, as recognised from its first bytes and header line. */
export interface CsvDialect {
  delimiter: CsvDelimiter;
  encoding: CsvEncoding;
  /** The file began with Excel's `sep=` line, which named the delimiter. */
  sepLine: boolean;
}

/** What a valid CSV held; the products themselves went to the sink as they were read. */
export interface CsvSummary {
  /** Header cells as uploaded, BOM stripped and trimmed. */
  columns: string[];
  dialect: CsvDialect;
  productCount: number;
  imageCount: number;
}

/**
 * Receives a CSV while it is read, so that a large upload never sits in
 * memory whole. Products arrive in file order and only while the file is
 * valid so far: after the first issue the rest is only checked, so the
 * receiver can stop storing and later discard what it stored.
 */
export interface ProductSink {
  header(columns: string[], dialect: CsvDialect): void;
  add(product: ParsedProduct): void;
  /**
   * Awaited before each further piece of the upload is read: a sink that is
   * writing holds the parser (and so the client) back instead of buffering.
   * A rejection ends the parse with that error.
   */
  ready(): Promise<void>;
}

/** Stable codes for what is wrong with an uploaded CSV; clients switch on them. */
export enum CsvErrorCode {
  EmptyFile = 'EMPTY_FILE',
  NoRows = 'NO_ROWS',
  MalformedCsv = 'MALFORMED_CSV',
  RecordTooLarge = 'RECORD_TOO_LARGE',
  MissingColumn = 'MISSING_COLUMN',
  DuplicateColumn = 'DUPLICATE_COLUMN',
  TooManyRows = 'TOO_MANY_ROWS',
  WrongColumnCount = 'WRONG_COLUMN_COUNT',
  MissingSerialNumber = 'MISSING_SERIAL_NUMBER',
  DuplicateSerialNumber = 'DUPLICATE_SERIAL_NUMBER',
  MissingProductName = 'MISSING_PRODUCT_NAME',
  ValueTooLong = 'VALUE_TOO_LONG',
  MissingImageUrls = 'MISSING_IMAGE_URLS',
  TooManyUrls = 'TOO_MANY_URLS',
  UrlTooLong = 'URL_TOO_LONG',
  InvalidUrl = 'INVALID_URL',
  UnsupportedUrlScheme = 'UNSUPPORTED_URL_SCHEME',
  UrlHasCredentials = 'URL_HAS_CREDENTIALS',
}

export interface CsvIssue {
  /** Data row number as in `ParsedProduct.rowNumber`; null for file- and header-level issues. */
  row: number | null;
  line: number | null;
  /** Header text as uploaded, or the expected header when it is missing. */
  column: string | null;
  /** 1-based position of the column in the header. */
  columnIndex: number | null;
  code: CsvErrorCode;
  message: string;
}

/** The CSV was read but breaks the contract; `issues` is capped, `issueCount` is the true total. */
export class CsvValidationError extends Error {
  constructor(
    readonly issues: CsvIssue[],
    readonly issueCount: number,
  ) {
    super(`The CSV has ${issueCount} problem${issueCount === 1 ? '' : 's'}`);
    this.name = 'CsvValidationError';
  }
}

/** The body is not UTF-8 text at all (binary, NUL bytes, another encoding). */
export class NotCsvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotCsvError';
  }
}

/** The body is an Excel workbook, which users fix differently from other binary: save it as CSV. */
export class SpreadsheetFileError extends NotCsvError {
  constructor(readonly format: 'xlsx' | 'xls') {
    super(
      `The file is an Excel workbook (.${format}), not a CSV; in the spreadsheet, use "Save as" → ` +
        '"CSV UTF-8 (comma delimited)" and upload that file.',
    );
    this.name = 'SpreadsheetFileError';
  }
}

export const MAX_REPORTED_ISSUES = 1000;
export const MAX_SERIAL_NUMBER_LENGTH = 100;
export const MAX_PRODUCT_NAME_LENGTH = 500;
const MAX_QUOTED_URL_LENGTH = 200;
/**
 * What one record may buffer beyond a full URL cell. A quote left open makes
 * the parser swallow the rest of the upload as one cell; the cap makes that
 * fail early with a pointer to the record instead.
 */
const RECORD_HEADROOM_BYTES = 1024 * 1024;

interface RequiredColumn {
  header: string;
  aliases: readonly string[];
}

const SERIAL_NUMBER: RequiredColumn = {
  header: 'S. No.',
  aliases: ['sno', 'serialno', 'serialnumber', 'srno', 'slno', 'serial'],
};
const PRODUCT_NAME: RequiredColumn = { header: 'Product Name', aliases: ['productname', 'name', 'product'] };
const IMAGE_URLS: RequiredColumn = {
  header: 'Input Image Urls',
  aliases: ['inputimageurls', 'inputimageurl', 'imageurls', 'imageurl', 'inputurls', 'urls'],
};
const REQUIRED_COLUMNS = [SERIAL_NUMBER, PRODUCT_NAME, IMAGE_URLS];
const REQUIRED_HEADERS = REQUIRED_COLUMNS.map((column) => `"${column.header}"`).join(', ');

/** 0-based positions of the required columns in the header. */
interface ColumnMap {
  serialNumber: number;
  name: number;
  urls: number;
}

class IssueCollector {
  readonly issues: CsvIssue[] = [];
  count = 0;

  add(issue: CsvIssue): void {
    this.count++;
    if (this.issues.length < MAX_REPORTED_ISSUES) this.issues.push(issue);
  }

  error(): CsvValidationError {
    return new CsvValidationError(this.issues, this.count);
  }
}

/**
 * Streams an uploaded CSV through csv-parse, validates it against the CSV
 * contract (DESIGN.md) and hands each valid product to `sink` as it is read.
 * Every problem in the file is collected and thrown together as a
 * CsvValidationError; only a broken structure (bad quoting, a bad header, too
 * many rows) stops reading early.
 */
export async function parseProductCsv(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  limits: CsvLimits,
  sink: ProductSink,
): Promise<CsvSummary> {
  return new ProductCsvReader(limits, sink).read(input);
}

class ProductCsvReader {
  private readonly issues = new IssueCollector();
  private productCount = 0;
  private imageCount = 0;
  // Serials only, not products: what a 100 000-row file keeps in memory.
  private readonly firstRowOfSerial = new Map<string, number>();
  private header: { columns: string[]; columnMap: ColumnMap } | null = null;
  private dialect: CsvDialect = { delimiter: ',', encoding: 'utf-8', sepLine: false };
  private dataRows = 0;
  /**
   * Physical lines taken by the records read so far. csv-parse's own `info.lines`
   * marks where a record ends and counts a CRLF inside a quoted cell twice, so
   * lines are counted here: a record spans one line plus the line breaks held in
   * its cells, and csv-parse reports the blank lines it skipped.
   */
  private recordLines = 0;

  constructor(
    private readonly limits: CsvLimits,
    private readonly sink: ProductSink,
  ) {}

  async read(input: AsyncIterable<Buffer> | NodeJS.ReadableStream): Promise<CsvSummary> {
    const decoded = await decodeText(input);
    const { dialect, text, linesSkipped } = await recogniseDialect(decoded.chunks, decoded.encoding);
    this.dialect = dialect;
    this.recordLines = linesSkipped;
    const parser = parse({
      bom: true,
      delimiter: dialect.delimiter,
      // Row lengths are checked here so that a bad row is reported, not fatal.
      relax_column_count: true,
      skip_empty_lines: true,
      // Left to auto-discovery, csv-parse keeps the first line ending it meets and
      // then reads the others as cell text, so mixed endings need all three.
      record_delimiter: ['\r\n', '\n', '\r'],
      max_record_size: RECORD_HEADROOM_BYTES + this.limits.urlsPerRow * (this.limits.urlLength + 1),
      // Records are handled inside the parser rather than read from its output:
      // a parse error discards whatever output is still buffered, and the rows
      // before the error must be counted and reported first.
      on_record: (record: string[], context: InfoRecord) => {
        this.onRecord(record, context.empty_lines);
        return null;
      },
    });
    // Nothing is pushed out of the parser; flowing mode lets it end.
    parser.resume();
    try {
      await pipeline(this.paced(text), parser);
    } catch (error) {
      if (!(error instanceof CsvError)) throw error;
      this.issues.add({
        row: this.header === null ? null : this.dataRows + 1,
        line: this.nextLine(typeof error.empty_lines === 'number' ? error.empty_lines : 0),
        column: null,
        columnIndex: null,
        ...describeParserError(error),
      });
      throw this.issues.error();
    }

    if (this.header === null) {
      this.fileIssue(
        CsvErrorCode.EmptyFile,
        `The file is empty; expected a header row naming ${REQUIRED_HEADERS} and at least one product row.`,
      );
      throw this.issues.error();
    }
    if (this.dataRows === 0) this.fileIssue(CsvErrorCode.NoRows, 'The file has a header row but no product rows.');
    if (this.issues.count > 0) throw this.issues.error();
    return {
      columns: this.header.columns,
      dialect: this.dialect,
      productCount: this.productCount,
      imageCount: this.imageCount,
    };
  }

  /**
   * Resuming after a yield means csv-parse has handled the chunk (it does so
   * synchronously), so its records reached the sink: the sink starts writing
   * them before the next chunk is awaited, however long that one takes.
   */
  private async *paced(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      yield chunk;
      await this.sink.ready();
    }
  }

  /** Where the next record starts, given the blank lines csv-parse has skipped so far. */
  private nextLine(emptyLines: number): number {
    return 1 + this.recordLines + emptyLines;
  }

  /** Throwing here fails the parser, so pipeline() stops reading the upload. */
  private onRecord(record: string[], emptyLines: number): void {
    const line = this.nextLine(emptyLines);
    this.recordLines += 1 + countLineBreaks(record);
    if (record.every((cell) => cell.trim() === '')) return;

    if (this.header === null) {
      const columns = record.map((cell) => cell.trim());
      const columnMap = mapHeader(columns, line, this.issues, this.dialect);
      if (columnMap === null) throw this.issues.error();
      this.header = { columns, columnMap };
      this.sink.header(columns, this.dialect);
      return;
    }

    this.dataRows++;
    if (this.dataRows > this.limits.csvRows) {
      this.issues.add({
        row: this.dataRows,
        line,
        column: null,
        columnIndex: null,
        code: CsvErrorCode.TooManyRows,
        message: `The file has more than ${this.limits.csvRows} data rows; split it into smaller files.`,
      });
      throw this.issues.error();
    }
    const product = validateRow(
      { rowNumber: this.dataRows, line, cells: record },
      this.header,
      this.limits,
      this.firstRowOfSerial,
      this.issues,
    );
    if (product !== null && this.issues.count === 0) {
      this.productCount++;
      this.imageCount += product.urls.length;
      this.sink.add(product);
    }
  }

  private fileIssue(code: CsvErrorCode, message: string): void {
    this.issues.add({ row: null, line: null, column: null, columnIndex: null, code, message });
  }
}

/** Enough of the upload to tell its encoding or a workbook's signature. */
const SNIFF_BYTES = 8;
/**
 * How much of the upload is held to find the header line. A header longer than
 * this is read with the default delimiter and reported as it comes out.
 */
const HEAD_LIMIT_BYTES = 64 * 1024;
const XLSX_SIGNATURE = Buffer.from('PK\x03\x04', 'latin1');
const XLS_SIGNATURE = Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);

/** Replays `first`, then the rest of `rest`, releasing the source however the reader stops. */
async function* replay(first: Buffer, rest: AsyncIterator<Buffer | string>): AsyncGenerator<Buffer> {
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
async function readHead(
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
async function decodeText(
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

const LINE = /\r\n|\r|\n/;
const SEP_LINE = /^"?sep=(.)"?[ \t]*$/i;

/**
 * Finds the delimiter before csv-parse starts: Excel's `sep=` first line names
 * it (and is removed, as it is no record); otherwise the header line decides.
 * Only the head of the upload is held for this, up to its header line.
 */
async function recogniseDialect(
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

const DELIMITER_NAMES: Record<CsvDelimiter, string> = {
  ',': '"," (comma)',
  ';': '";" (semicolon)',
  '\t': 'tabs',
  '|': '"|" (vertical bar)',
};
const DESCRIBED_COLUMNS = 10;
const DESCRIBED_COLUMN_LENGTH = 40;

/** What the header looked like, for a user whose header was not recognised. */
function describeHeader(columns: string[], dialect: CsvDialect): string {
  const shown = columns
    .slice(0, DESCRIBED_COLUMNS)
    .map(
      (column) =>
        `"${column.length > DESCRIBED_COLUMN_LENGTH ? `${column.slice(0, DESCRIBED_COLUMN_LENGTH)}…` : column}"`,
    )
    .join(', ');
  const more = columns.length > DESCRIBED_COLUMNS ? `, … (${columns.length} in all)` : '';
  const separated = dialect.sepLine
    ? `is separated by ${DELIMITER_NAMES[dialect.delimiter]}, as its "sep=" line says,`
    : `seems separated by ${DELIMITER_NAMES[dialect.delimiter]}`;
  return `The header ${separated} and reads ${shown}${more}. Accepted separators: comma, semicolon, tab and "|".`;
}

function countLineBreaks(cells: string[]): number {
  let breaks = 0;
  for (const cell of cells) {
    if (cell.includes('\n') || cell.includes('\r')) breaks += cell.match(/\r\n|\r|\n/g)!.length;
  }
  return breaks;
}

/** The URLs of an `Input Image Urls` cell as written, in order, repeats kept. */
export function splitUrlCell(cell: string): string[] {
  // Raw whitespace cannot occur inside a URL, so it separates URLs as well as commas do.
  return cell.split(/[\s,]+/).filter((piece) => piece !== '');
}

/** Where a header row (as stored with a request) holds the image URLs; -1 if it has none. */
export function imageUrlsColumnIndex(columns: string[]): number {
  return columns.findIndex((header) => IMAGE_URLS.aliases.includes(normalizeHeader(header)));
}

function normalizeHeader(header: string): string {
  return header.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Finds the required columns, or reports why the header is unusable and returns null. */
function mapHeader(
  columns: string[],
  line: number,
  issues: IssueCollector,
  dialect: CsvDialect | null,
): ColumnMap | null {
  const before = issues.count;
  const found = new Map<RequiredColumn, number>();
  const seen = new Map<string, number>();
  const duplicate = (index: number, message: string): void =>
    issues.add({
      row: null,
      line,
      column: columns[index],
      columnIndex: index + 1,
      code: CsvErrorCode.DuplicateColumn,
      message,
    });

  columns.forEach((header, index) => {
    const required = REQUIRED_COLUMNS.find((column) => column.aliases.includes(normalizeHeader(header)));
    const first = seen.get(header);
    // Blank headers are left alone: spreadsheets often save stray empty columns.
    if (first !== undefined && header !== '') {
      duplicate(index, `Column "${header}" appears twice (columns ${first + 1} and ${index + 1}).`);
    } else if (required !== undefined && found.has(required)) {
      const other = found.get(required)!;
      duplicate(
        index,
        `Columns "${columns[other]}" (${other + 1}) and "${header}" (${index + 1}) both match ` +
          `"${required.header}"; keep only one.`,
      );
    }
    if (first === undefined) seen.set(header, index);
    if (required !== undefined && !found.has(required)) found.set(required, index);
  });

  for (const required of REQUIRED_COLUMNS) {
    if (found.has(required)) continue;
    issues.add({
      row: null,
      line,
      column: required.header,
      columnIndex: null,
      code: CsvErrorCode.MissingColumn,
      message:
        `Required column "${required.header}" is missing; the header row must name ${REQUIRED_HEADERS}.` +
        (dialect === null ? '' : ` ${describeHeader(columns, dialect)}`),
    });
  }
  if (issues.count > before) return null;
  return { serialNumber: found.get(SERIAL_NUMBER)!, name: found.get(PRODUCT_NAME)!, urls: found.get(IMAGE_URLS)! };
}

interface RawRow {
  rowNumber: number;
  line: number;
  cells: string[];
}

/** Reports every problem of one data row; returns the product only when it has none. */
function validateRow(
  raw: RawRow,
  { columns, columnMap }: { columns: string[]; columnMap: ColumnMap },
  limits: CsvLimits,
  firstRowOfSerial: Map<string, number>,
  issues: IssueCollector,
): ParsedProduct | null {
  const { rowNumber, line, cells } = raw;
  const before = issues.count;
  const report = (columnIndex: number | null, code: CsvErrorCode, message: string): void =>
    issues.add({
      row: rowNumber,
      line,
      column: columnIndex === null ? null : columns[columnIndex],
      columnIndex: columnIndex === null ? null : columnIndex + 1,
      code,
      message,
    });

  // Cells cannot be matched to columns reliably once the count is off, so
  // checking them would only add noise to the real problem.
  if (cells.length !== columns.length) {
    report(
      null,
      CsvErrorCode.WrongColumnCount,
      `Expected ${columns.length} cells (one per header column), found ${cells.length}. ` +
        'Cells holding commas must be quoted, e.g. "https://a.example/1.jpg,https://a.example/2.jpg".',
    );
    return null;
  }

  const serialNumber = cells[columnMap.serialNumber].trim();
  if (serialNumber === '') {
    report(columnMap.serialNumber, CsvErrorCode.MissingSerialNumber, 'The serial number is empty.');
  } else if (isLongerThan(serialNumber, MAX_SERIAL_NUMBER_LENGTH)) {
    report(
      columnMap.serialNumber,
      CsvErrorCode.ValueTooLong,
      `The serial number is longer than ${MAX_SERIAL_NUMBER_LENGTH} characters.`,
    );
  } else {
    const firstRow = firstRowOfSerial.get(serialNumber);
    if (firstRow === undefined) {
      firstRowOfSerial.set(serialNumber, rowNumber);
    } else {
      report(
        columnMap.serialNumber,
        CsvErrorCode.DuplicateSerialNumber,
        `Serial number "${serialNumber}" already appears in row ${firstRow}.`,
      );
    }
  }

  const name = cells[columnMap.name].trim();
  if (name === '') {
    report(columnMap.name, CsvErrorCode.MissingProductName, 'The product name is empty.');
  } else if (isLongerThan(name, MAX_PRODUCT_NAME_LENGTH)) {
    report(
      columnMap.name,
      CsvErrorCode.ValueTooLong,
      `The product name is longer than ${MAX_PRODUCT_NAME_LENGTH} characters.`,
    );
  }

  const pieces = splitUrlCell(cells[columnMap.urls]);
  if (pieces.length === 0) {
    report(columnMap.urls, CsvErrorCode.MissingImageUrls, 'No image URL given.');
  } else if (pieces.length > limits.urlsPerRow) {
    report(
      columnMap.urls,
      CsvErrorCode.TooManyUrls,
      `${pieces.length} image URLs given; at most ${limits.urlsPerRow} are allowed per row.`,
    );
  }
  const urls: string[] = [];
  pieces.forEach((piece, index) => {
    const checked = checkUrl(piece, limits.urlLength);
    if (typeof checked === 'string') {
      urls.push(checked);
    } else {
      report(columnMap.urls, checked.code, `URL ${index + 1} ${quoteUrl(piece)} ${checked.problem}`);
    }
  });

  if (issues.count > before) return null;
  return { rowNumber, line, serialNumber, name, urls, cells };
}

/** Counts characters as people do (code points), not UTF-16 units. */
function isLongerThan(value: string, max: number): boolean {
  return value.length > max && [...value].length > max;
}

/** The normalized URL, or why it is refused. */
function checkUrl(text: string, maxLength: number): string | { code: CsvErrorCode; problem: string } {
  const tooLong = { code: CsvErrorCode.UrlTooLong, problem: `is longer than ${maxLength} characters.` };
  if (text.length > maxLength) return tooLong;
  const url = URL.parse(text);
  if (url === null) {
    return { code: CsvErrorCode.InvalidUrl, problem: 'is not an absolute URL (expected http:// or https://).' };
  }
  // WHATWG parsing refuses an http(s) URL without a host, so passing this check
  // also guarantees one.
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      code: CsvErrorCode.UnsupportedUrlScheme,
      problem: `uses the scheme "${url.protocol.slice(0, -1)}"; only http and https are supported.`,
    };
  }
  if (url.username !== '' || url.password !== '') {
    return { code: CsvErrorCode.UrlHasCredentials, problem: 'contains a user name or password; remove them.' };
  }
  // Normalizing percent-encodes non-ASCII text, which can push a URL over the limit.
  if (url.href.length > maxLength) return tooLong;
  return url.href;
}

function quoteUrl(url: string): string {
  return `"${url.length > MAX_QUOTED_URL_LENGTH ? `${url.slice(0, MAX_QUOTED_URL_LENGTH)}…` : url}"`;
}

function describeParserError(error: CsvError): { code: CsvErrorCode; message: string } {
  switch (error.code) {
    case 'CSV_MAX_RECORD_SIZE':
      return {
        code: CsvErrorCode.RecordTooLarge,
        message:
          'The record starting on this line is too large to be a product row; ' +
          'a quote that is never closed is the usual cause.',
      };
    case 'CSV_QUOTE_NOT_CLOSED':
      return {
        code: CsvErrorCode.MalformedCsv,
        message: 'A quoted cell in the record starting on this line is never closed.',
      };
    case 'CSV_INVALID_CLOSING_QUOTE':
      return {
        code: CsvErrorCode.MalformedCsv,
        message:
          'A quoted cell in the record starting on this line has text after its closing quote; ' +
          'a quote inside a quoted cell must be doubled ("").',
      };
    case 'INVALID_OPENING_QUOTE':
      return {
        code: CsvErrorCode.MalformedCsv,
        message:
          'A cell in the record starting on this line has a quote in the middle of unquoted text; ' +
          'quote the whole cell and double the inner quote ("").',
      };
    default:
      return { code: CsvErrorCode.MalformedCsv, message: `The CSV is malformed: ${error.message}` };
  }
}
