import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { RequestsService } from '../requests/requests.service.js';
import { PublicUrls } from '../storage/public-urls.js';
import { ProductImageDto, ProductPageDto } from './dto/product-page.dto.js';
import { ImageStatus } from './image-status.js';

@Injectable()
export class ProductsService {
  constructor(
    private readonly em: EntityManager,
    private readonly requests: RequestsService,
    private readonly urls: PublicUrls,
  ) {}

  async listProducts(requestId: string, page: number, pageSize: number): Promise<ProductPageDto> {
    const request = await this.requests.findOrFail(requestId);
    const em = this.em.fork();
    const products = await em.execute<
      { id: string; row_number: number; serial_number: string; name: string; processed: boolean }[]
    >(
      `SELECT id, row_number, serial_number, name, processed FROM product
        WHERE request_id = ? ORDER BY row_number LIMIT ? OFFSET ?`,
      [requestId, pageSize, (page - 1) * pageSize],
    );
    const images = products.length
      ? await em.execute<
          {
            product_id: string;
            position: number;
            input_url: string;
            status: ImageStatus;
            output_key: string | null;
            format: string | null;
            width: number | null;
            height: number | null;
            bytes_in: number | null;
            bytes_out: number | null;
            attempts: number;
            error_code: string | null;
            error_message: string | null;
          }[]
        >(
          `SELECT product_id, position, input_url, status, output_key, format, width, height,
                  bytes_in, bytes_out, attempts, error_code, error_message
             FROM image WHERE product_id IN (?) ORDER BY product_id, position`,
          [products.map((product) => product.id)],
        )
      : [];
    const byProduct = new Map<string, ProductImageDto[]>();
    for (const image of images) {
      const list = byProduct.get(image.product_id) ?? [];
      list.push({
        position: image.position,
        inputUrl: image.input_url,
        status: image.status,
        outputUrl:
          image.status === ImageStatus.Succeeded && image.output_key
            ? this.urls.file(image.output_key)
            : null,
        format: image.format,
        width: image.width,
        height: image.height,
        bytesIn: image.bytes_in,
        bytesOut: image.bytes_out,
        attempts: image.attempts,
        errorCode: image.error_code,
        errorMessage: image.error_message,
      });
      byProduct.set(image.product_id, list);
    }
    return {
      items: products.map((product) => ({
        row: product.row_number,
        serialNumber: product.serial_number,
        name: product.name,
        processed: product.processed,
        images: byProduct.get(product.id) ?? [],
      })),
      page,
      pageSize,
      total: request.productCount,
    };
  }
}
