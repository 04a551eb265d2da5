import type { ColumnMap } from './csv-columns.js';
import {
  type CsvLimits,
  CsvErrorCode,
  type IssueCollector,
  MAX_PRODUCT_NAME_LENGTH,
  MAX_SERIAL_NUMBER_LENGTH,
  type ParsedProduct,
} from './csv-contract.js';

const MAX_QUOTED_URL_LENGTH = 200;

/** The URLs of an `Input Image Urls` cell as written, in order, repeats kept. */
export function splitUrlCell(cell: string): string[] {
  // Raw whitespace cannot occur inside a URL, so it separates URLs as well as commas do.
  return cell.split(/[\s,]+/).filter((piece) => piece !== '');
}

export interface RawRow {
  rowNumber: number;
  line: number;
  cells: string[];
}

/** Reports every problem of one data row; returns the product only when it has none. */
export function validateRow(
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
