import { ApiProperty } from '@nestjs/swagger';
import { ImageStatus } from '../image-status.js';

export class ProductImageDto {
  @ApiProperty({ description: '0-based position in the Input Image Urls cell' }) position: number;
  @ApiProperty() inputUrl: string;
  @ApiProperty({ enum: ImageStatus, enumName: 'ImageStatus' }) status: ImageStatus;
  @ApiProperty({ nullable: true, type: String }) outputUrl: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'jpeg' }) format: string | null;
  @ApiProperty({ nullable: true, type: Number }) width: number | null;
  @ApiProperty({ nullable: true, type: Number }) height: number | null;
  @ApiProperty({ nullable: true, type: Number }) bytesIn: number | null;
  @ApiProperty({ nullable: true, type: Number }) bytesOut: number | null;
  @ApiProperty() attempts: number;
  @ApiProperty({ nullable: true, type: String, example: 'HTTP_404' }) errorCode: string | null;
  @ApiProperty({ nullable: true, type: String }) errorMessage: string | null;
}

export class ProductDto {
  @ApiProperty({ description: 'CSV data row (1-based)' }) row: number;
  @ApiProperty({ example: '1' }) serialNumber: string;
  @ApiProperty({ example: 'SKU1' }) name: string;
  @ApiProperty({ description: 'Every image of the product is in a terminal state' }) processed: boolean;
  @ApiProperty({ type: [ProductImageDto] }) images: ProductImageDto[];
}

export class ProductPageDto {
  @ApiProperty({ type: [ProductDto] }) items: ProductDto[];
  @ApiProperty() page: number;
  @ApiProperty() pageSize: number;
  @ApiProperty() total: number;
}
