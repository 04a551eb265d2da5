import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { ParseRequestIdPipe } from '../common/parse-request-id.pipe.js';
import { ListProductsQuery } from './dto/list-products.query.js';
import { ProductPageDto } from './dto/product-page.dto.js';
import { ProductsService } from './products.service.js';

@ApiTags('requests')
@Controller('api/v1/requests/:id/products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  @Get()
  @ApiOperation({
    summary: 'Products of a request with the state of each image, in CSV order',
    operationId: 'listProducts',
    description:
      'One page of the products of a request in CSV order, each with its input URLs and the state, output URL and error of every image.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: ProductPageDto, description: 'One page of products' })
  @ApiProblemResponses({ 400: 'Malformed request id or paging parameters', 404: 'Unknown request id' })
  listProducts(
    @Param('id', ParseRequestIdPipe) id: string,
    @Query() query: ListProductsQuery,
  ): Promise<ProductPageDto> {
    return this.products.listProducts(id, query.page, query.pageSize);
  }
}
