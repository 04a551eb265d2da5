/** Builds product CSVs; quoting follows RFC 4180 so any cell content is legal. */
export interface CsvProduct {
  serial: string | number;
  name: string;
  urls: string[];
  extra?: string[];
}

export function quote(cell: string): string {
  return /[",\r\n]/.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

export function productCsv(
  products: CsvProduct[],
  options: { header?: string[]; eol?: string; bom?: boolean } = {},
): string {
  const header = options.header ?? ['S. No.', 'Product Name', 'Input Image Urls'];
  const eol = options.eol ?? '\n';
  const lines = [header.map(quote).join(',')];
  for (const product of products) {
    const cells = [String(product.serial), product.name, product.urls.join(','), ...(product.extra ?? [])];
    lines.push(cells.map(quote).join(','));
  }
  return (options.bom ? '\uFEFF' : '') + lines.join(eol) + eol;
}
