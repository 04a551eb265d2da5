import { pipeline } from 'node:stream/promises';
import { CsvError, parse, type InfoRecord } from 'csv-parse';
import { type ColumnMap, mapHeader, REQUIRED_HEADERS } from './csv-columns.js';
import {
  type CsvDialect,
  CsvErrorCode,
  type CsvLimits,
  type CsvSummary,
  IssueCollector,
  type ProductSink,
} from './csv-contract.js';
import { decodeText } from './csv-decoding.js';
import { recogniseDialect } from './csv-dialect.js';
import { validateRow } from './csv-rows.js';

/**
 * What one record may buffer beyond a full URL cell. A quote left open makes
 * the parser swallow the rest of the upload as one cell; the cap makes that
 * fail early with a pointer to the record instead.
 */
const RECORD_HEADROOM_BYTES = 1024 * 1024;

/**
 * Streams an uploaded CSV through csv-parse, validates it against the CSV
 * contract (docs/api-guide.md, "CSV format") and hands each valid product to `sink` as it is read.
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

function countLineBreaks(cells: string[]): number {
  let breaks = 0;
  for (const cell of cells) {
    if (cell.includes('\n') || cell.includes('\r')) breaks += cell.match(/\r\n|\r|\n/g)!.length;
  }
  return breaks;
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
