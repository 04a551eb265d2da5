import { ApiProperty } from '@nestjs/swagger';
import { ImageObtained } from '../image-obtained.js';
import { ImageStatus } from '../image-status.js';

export class ProductImageDto {
  @ApiProperty({ type: 'integer', description: '0-based position in the Input Image Urls cell' }) position: number;
  @ApiProperty() inputUrl: string;
  @ApiProperty({ enum: ImageStatus, enumName: 'ImageStatus' }) status: ImageStatus;
  @ApiProperty({ nullable: true, type: String }) outputUrl: string | null;
  @ApiProperty({
    enum: ImageObtained,
    enumName: 'ImageObtained',
    nullable: true,
    example: ImageObtained.Revalidated,
    description:
      'How a succeeded image was obtained: `fetched` (downloaded and encoded), `revalidated` (the source answered 304 ' +
      'to a conditional request and an earlier output was copied) or `reused` (downloaded, same bytes as an earlier ' +
      'output was made from, which was copied); null unless succeeded',
  })
  obtained: ImageObtained | null;
  @ApiProperty({ nullable: true, type: String, example: 'jpeg' }) format: string | null;
  @ApiProperty({ type: 'integer', nullable: true }) width: number | null;
  @ApiProperty({ type: 'integer', nullable: true }) height: number | null;
  @ApiProperty({ type: 'integer', nullable: true }) bytesIn: number | null;
  @ApiProperty({ type: 'integer', nullable: true }) bytesOut: number | null;
  @ApiProperty({ type: 'integer' }) attempts: number;
  @ApiProperty({ nullable: true, type: String, example: 'HTTP_404' }) errorCode: string | null;
  @ApiProperty({ nullable: true, type: String }) errorMessage: string | null;
}

export class ProductDto {
  @ApiProperty({ type: 'integer', description: 'CSV data row (1-based)' }) row: number;
  @ApiProperty({ example: '1' }) serialNumber: string;
  @ApiProperty({ example: 'SKU1' }) name: string;
  @ApiProperty({ description: 'Every image of the product is in a terminal state' }) processed: boolean;
  @ApiProperty({ type: [ProductImageDto] }) images: ProductImageDto[];
}

export class ProductPageDto {
  @ApiProperty({ type: [ProductDto] }) items: ProductDto[];
  @ApiProperty({ type: 'integer' }) page: number;
  @ApiProperty({ type: 'integer' }) pageSize: number;
  @ApiProperty({ type: 'integer' }) total: number;
}
