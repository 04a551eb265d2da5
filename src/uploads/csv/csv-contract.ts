/*
 * The CSV contract's vocabulary: what an upload may hold (limits), what a valid
 * one yields (products, dialect, summary) and how a bad one is reported (codes,
 * issues, errors). The reading is split by stage: csv-decoding.ts (bytes to
 * UTF-8), csv-dialect.ts (the delimiter), csv-columns.ts (the header),
 * csv-rows.ts (each product row), product-csv.parser.ts (the whole pass).
 */
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

/** Every problem found, the first MAX_REPORTED_ISSUES of them kept, to be thrown together. */
export class IssueCollector {
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
