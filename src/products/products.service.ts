import { Injectable } from '@nestjs/common';
import { RequestsService } from '../requests/requests.service.js';
import { PublicUrls } from '../storage/public-urls.js';
import { ProductImageDto, ProductPageDto } from './dto/product-page.dto.js';
import { ImageRepository } from './image.repository.js';
import { ProductRepository } from './product.repository.js';

@Injectable()
export class ProductsService {
  constructor(
    private readonly products: ProductRepository,
    private readonly images: ImageRepository,
    private readonly requests: RequestsService,
    private readonly urls: PublicUrls,
  ) {}

  async listProducts(requestId: string, page: number, pageSize: number): Promise<ProductPageDto> {
    const request = await this.requests.findOrFail(requestId);
    const products = await this.products.page(requestId, pageSize, (page - 1) * pageSize);
    const images = await this.images.forProducts(products.map((product) => product.id));
    const byProduct = new Map<string, ProductImageDto[]>();
    for (const image of images) {
      const list = byProduct.get(image.productId) ?? [];
      list.push({
        position: image.position,
        inputUrl: image.inputUrl,
        status: image.status,
        outputUrl: image.outputKey ? this.urls.file(image.outputKey) : null,
        obtained: image.obtained,
        format: image.format,
        width: image.width,
        height: image.height,
        bytesIn: image.bytesIn,
        bytesOut: image.bytesOut,
        attempts: image.attempts,
        errorCode: image.errorCode,
        errorMessage: image.errorMessage,
      });
      byProduct.set(image.productId, list);
    }
    return {
      items: products.map((product) => ({
        row: product.rowNumber,
        serialNumber: product.serialNumber,
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
