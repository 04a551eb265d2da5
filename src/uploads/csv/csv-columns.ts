import { type CsvDelimiter, type CsvDialect, CsvErrorCode, type IssueCollector } from './csv-contract.js';

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
export const REQUIRED_HEADERS = REQUIRED_COLUMNS.map((column) => `"${column.header}"`).join(', ');

/** 0-based positions of the required columns in the header. */
export interface ColumnMap {
  serialNumber: number;
  name: number;
  urls: number;
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

/** Where a header row (as stored with a request) holds the image URLs; -1 if it has none. */
export function imageUrlsColumnIndex(columns: string[]): number {
  return columns.findIndex((header) => IMAGE_URLS.aliases.includes(normalizeHeader(header)));
}

function normalizeHeader(header: string): string {
  return header.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Finds the required columns, or reports why the header is unusable and returns null. */
export function mapHeader(
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
