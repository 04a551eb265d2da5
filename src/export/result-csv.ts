import { pipeline, Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { imageUrlsColumnIndex } from '../uploads/csv/csv-columns.js';
import { splitUrlCell } from '../uploads/csv/csv-rows.js';

export const OUTPUT_URLS_COLUMN = 'Output Image Urls';
export const ERRORS_COLUMN = 'Errors';

export interface ResultRow {
  /** The row's input cells, aligned with the request's columns. */
  cells: string[];
  /** Aligned 1:1 with the input URLs; null where the image failed. */
  outputUrls: (string | null)[];
  errors: string[];
}

/**
 * The characters OWASP ("CSV Injection") lists as starting a formula, plus the
 * full-width forms some spreadsheets fold into them. Whitespace before them
 * counts too, because importers that trim cells (Google Sheets, LibreOffice's
 * "trim spaces") would otherwise expose the formula.
 */
const FORMULA_START = /^(?:[\t\r]|\s*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/;

/**
 * Makes a spreadsheet show the cell as text instead of evaluating it, by
 * prefixing a single quote as OWASP recommends. A plain negative number such as
 * `-5` is quoted too: telling it apart from `-5+cmd|...` is not worth the risk.
 */
export function neutralizeFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

export interface ResultCsvOptions {
  /** The uploaded CSV's separator, so the file opens in the user's spreadsheet as theirs did; default comma. */
  delimiter?: string;
}

/**
 * Streams the result CSV: the input columns in their order, then the output
 * URLs and the errors. Rows are pulled from `rows` only as fast as the reader
 * consumes the stream, so an export never sits in memory whole.
 *
 * The `Input Image Urls` cell is written back normalised, its URLs joined by
 * a comma and a space with empty items dropped, so that splitting it and
 * `Output Image Urls` on commas gives the same count in a spreadsheet. The
 * URLs themselves are not changed, only what separated them, so the cell as
 * uploaded is not kept in a column of its own.
 */
export function createResultCsvStream(
  columns: string[],
  rows: AsyncIterable<ResultRow> | Iterable<ResultRow>,
  { delimiter = ',' }: ResultCsvOptions = {},
): Readable {
  const stringifier = stringify({
    delimiter,
    // Excel opens a CSV without a BOM in the machine's legacy code page and
    // garbles non-ASCII names; csv-parse (and our upload parser) strip the BOM,
    // so a result file can be uploaded again as is.
    bom: true,
    // RFC 4180 line endings.
    record_delimiter: 'windows',
    // Setting record_delimiter turns off quoting of cells holding a lone \n or
    // \r, which parsers would then read as a line break.
    quote_record_delimiter: true,
  });
  // pipeline() hands any failure of `rows` to the stringifier, whose reader sees
  // it; the callback has nothing left to do.
  return pipeline(Readable.from(records(columns, rows)), stringifier, () => {});
}

async function* records(
  columns: string[],
  rows: AsyncIterable<ResultRow> | Iterable<ResultRow>,
): AsyncGenerator<string[]> {
  yield [...columns, OUTPUT_URLS_COLUMN, ERRORS_COLUMN].map(neutralizeFormula);
  const urlsColumn = imageUrlsColumnIndex(columns);
  for await (const row of rows) {
    // Exactly one cell per input column, so the added columns stay under their headers.
    const cells = columns.map((_, index) => {
      const cell = row.cells[index] ?? '';
      return index === urlsColumn ? splitUrlCell(cell).join(', ') : cell;
    });
    const outputUrls = row.outputUrls.map((url) => url ?? '').join(',');
    yield [...cells, outputUrls, row.errors.join('; ')].map(neutralizeFormula);
  }
}
