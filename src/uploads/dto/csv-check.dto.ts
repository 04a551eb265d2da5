import { ApiProperty } from '@nestjs/swagger';
import { CSV_DELIMITERS, CsvSummary, ParsedProduct } from '../csv/csv-contract.js';

/** Rows a check shows: enough to see that the columns were read as meant. */
export const CHECK_PREVIEW_ROWS = 5;

export class CsvPreviewRowDto {
  @ApiProperty({ type: 'integer', example: 1, description: 'Data row (1-based, header excluded)' }) row: number;
  @ApiProperty({ type: 'integer', example: 2, description: 'Line of the file where the row starts' })
  line: number;
  @ApiProperty({ example: '1' }) serialNumber: string;
  @ApiProperty({ example: 'SKU1' }) name: string;
  @ApiProperty({ type: [String], example: ['https://example.com/a.jpg', 'https://example.com/b.jpg'] }) urls: string[];
  @ApiProperty({ type: [String], description: 'Every cell as uploaded, aligned with `columns`' }) cells: string[];
}

export class CsvCheckDto {
  @ApiProperty({
    enum: CSV_DELIMITERS,
    example: ';',
    description: 'The field separator recognised; the export uses it too',
  })
  delimiter: string;

  @ApiProperty({ enum: ['utf-8', 'utf-16le', 'utf-16be'], example: 'utf-8' })
  encoding: string;

  @ApiProperty({ description: 'The file began with Excel\'s "sep=" line, which named the separator' })
  sepLine: boolean;

  @ApiProperty({ type: [String], example: ['S. No.', 'Product Name', 'Input Image Urls'] })
  columns: string[];

  @ApiProperty({ type: 'integer', example: 100 }) productCount: number;

  @ApiProperty({ type: 'integer', example: 300, description: 'Image URLs over all rows, repeats included' })
  urlCount: number;

  @ApiProperty({
    type: [CsvPreviewRowDto],
    description: `The first ${CHECK_PREVIEW_ROWS} rows as they will be processed`,
  })
  firstRows: CsvPreviewRowDto[];
}

export function toCsvCheckDto(summary: CsvSummary, firstRows: ParsedProduct[]): CsvCheckDto {
  return {
    ...summary.dialect,
    columns: summary.columns,
    productCount: summary.productCount,
    urlCount: summary.imageCount,
    firstRows: firstRows.map((product) => ({
      row: product.rowNumber,
      line: product.line,
      serialNumber: product.serialNumber,
      name: product.name,
      urls: product.urls,
      cells: product.cells,
    })),
  };
}
