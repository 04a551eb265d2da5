import { Controller, Get, HttpStatus, Param, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { contentTypeOf } from './content-types.js';
import { StorageDriver } from './storage.driver.js';
import { Public } from '../security/public.decorator.js';

// Only output images are public; result CSVs go through the export endpoint.
const PUBLIC_PREFIX = 'images/';

@ApiTags('files')
@Public()
@Controller('files')
export class FilesController {
  constructor(private readonly storage: StorageDriver) {}

  @Get('*')
  @ApiOperation({ summary: 'Download a stored output image', operationId: 'getFile' })
  @ApiParam({ name: '*', description: 'Storage key, as found in an output URL' })
  @ApiProduces('image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/avif')
  @ApiOkResponse({ description: 'The image bytes' })
  async getFile(@Param('*') path: string, @Res() reply: FastifyReply): Promise<void> {
    const object = path.startsWith(PUBLIC_PREFIX) ? await this.storage.get(path) : null;
    if (!path.startsWith(PUBLIC_PREFIX) || !object) {
      throw new AppError(HttpStatus.NOT_FOUND, ErrorCode.FileNotFound, 'File not found', `No file is stored under ${path}.`);
    }
    // A key belongs to one image of one request and is never reused.
    await reply
      .header('content-type', contentTypeOf(path))
      .header('content-length', object.size)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .send(object.stream);
  }
}
