import { Controller, Get, HttpStatus, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { isPublicKey } from './storage-keys.js';
import { StorageDriver } from './storage.driver.js';
import { Public } from '../security/public.decorator.js';

// One wildcard entry: generators (openapi-python-client among them) drop a
// response listing several concrete image types, and the format follows the input.
const IMAGE_CONTENT = {
  'image/*': {
    schema: { type: 'string', format: 'binary', description: 'JPEG, PNG, GIF, WebP or AVIF, as the input was' },
  },
};

@ApiTags('files')
@Public()
@Controller('files')
export class FilesController {
  constructor(private readonly storage: StorageDriver) {}

  @Get('*')
  @ApiOperation({
    summary: 'Download a stored output image',
    operationId: 'getFile',
    description:
      'Serves an output image from local storage by its key. Keys are unguessable, so the files are public and can be embedded by product pages.',
  })
  // OpenAPI names the wildcard {path}; read through @Req so that `*` is not documented as a second path parameter.
  @ApiParam({ name: 'path', type: String, description: 'Storage key, as found in an output URL', example: 'images/<requestId>/<imageId>.jpg' })
  @ApiOkResponse({ description: 'The image bytes', content: IMAGE_CONTENT })
  @ApiProblemResponses({ 404: 'No output image is stored under this key' })
  async getFile(@Req() request: FastifyRequest<{ Params: { '*': string } }>, @Res() reply: FastifyReply): Promise<void> {
    const path = request.params['*'];
    // Only output images are public; result CSVs go through the export endpoint.
    const object = isPublicKey(path) ? await this.storage.get(path) : null;
    if (!object) {
      throw new AppError(HttpStatus.NOT_FOUND, ErrorCode.FileNotFound, 'File not found', `No file is stored under ${path}.`);
    }
    // A key belongs to one image of one request and is never reused.
    await reply
      .header('content-type', object.contentType)
      .header('content-length', object.size)
      .header('etag', object.etag)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff')
      .send(object.stream);
  }
}
