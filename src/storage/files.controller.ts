import { Controller, Get, Head, HttpStatus, Req, Res } from '@nestjs/common';
import {
  ApiExcludeEndpoint,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { etagMatches, parseRange } from './byte-range.js';
import { isPublicKey } from './storage-keys.js';
import { ObjectInfo, StorageDriver } from './storage.driver.js';
import { Public } from '../common/public.decorator.js';

// One wildcard entry: generators (openapi-python-client among them) drop a
// response listing several concrete image types, and the format follows the input.
const IMAGE_CONTENT = {
  'image/*': {
    schema: { type: 'string', format: 'binary', description: 'JPEG, PNG, GIF, WebP or AVIF, as the input was' },
  },
};

type FileRequest = FastifyRequest<{ Params: { '*': string } }>;

/**
 * Output images, streamed from whichever driver is active, so any API
 * process serves any worker's output. Headers come from the store's metadata
 * (one HEAD); the bytes are only read for a GET that needs them.
 */
@ApiTags('files')
@Public()
@Controller('files')
export class FilesController {
  constructor(private readonly storage: StorageDriver) {}

  // Declared before GET: Fastify would otherwise add its own HEAD route for the GET, which reads the bytes.
  @Head('*')
  // HEAD answers as GET does without the body (RFC 9110), so it needs no operation, nor a second SDK function, of its own.
  @ApiExcludeEndpoint()
  async headFile(@Req() request: FileRequest, @Res() reply: FastifyReply): Promise<void> {
    const info = await this.find(request.params['*']);
    this.commonHeaders(reply, info);
    await reply.header('content-length', info.size).send();
  }

  @Get('*')
  @ApiOperation({
    summary: 'Download a stored output image',
    operationId: 'getFile',
    description:
      "Serves an output image from local storage by its key. A key's folder is a random token per request " +
      '(128 bits), so the files are public and can be embedded by product pages; the file names in a folder ' +
      "follow from the CSV, so whoever holds one output URL can guess that request's others.",
  })
  // OpenAPI names the wildcard {path}; read through @Req so that `*` is not documented as a second path parameter.
  @ApiParam({
    name: 'path',
    type: String,
    description: 'Storage key, as found in an output URL',
    example: 'images/<token>/<name>.jpg',
  })
  @ApiHeader({ name: 'range', required: false, description: 'One byte range, e.g. bytes=0-1023' })
  @ApiHeader({ name: 'if-none-match', required: false, description: 'An ETag from an earlier answer' })
  @ApiOkResponse({ description: 'The image bytes', content: IMAGE_CONTENT })
  @ApiResponse({ status: 206, description: 'The requested byte range', content: IMAGE_CONTENT })
  @ApiResponse({ status: 304, description: 'Not modified: the ETag matches' })
  @ApiProblemResponses({
    404: 'No output image is stored under this key',
    416: 'The range starts past the end of the image',
  })
  async getFile(@Req() request: FileRequest, @Res() reply: FastifyReply): Promise<void> {
    const key = request.params['*'];
    const info = await this.find(key);
    this.commonHeaders(reply, info);
    if (etagMatches(request.headers['if-none-match'], info.etag)) {
      await reply.status(HttpStatus.NOT_MODIFIED).send();
      return;
    }
    const range = parseRange(request.headers.range, info.size);
    if (range === 'unsatisfiable') {
      void reply.header('content-range', `bytes */${info.size}`);
      throw new AppError(
        HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
        ErrorCode.RangeNotSatisfiable,
        'Range not satisfiable',
        `The image is ${info.size} bytes long.`,
      );
    }
    const object = await this.storage.get(key, range ?? undefined);
    if (!object) throw notFound(key);
    void reply.header('content-length', info.size);
    if (range) {
      void reply
        .status(HttpStatus.PARTIAL_CONTENT)
        .header('content-range', `bytes ${range.start}-${range.end}/${info.size}`)
        .header('content-length', range.end - range.start + 1);
    }
    await reply.send(object.stream);
  }

  private async find(key: string): Promise<ObjectInfo> {
    // Only output images are public; result CSVs go through the export endpoint.
    const info = isPublicKey(key) ? await this.storage.head(key) : null;
    if (!info) throw notFound(key);
    return info;
  }

  private commonHeaders(reply: FastifyReply, info: ObjectInfo): void {
    // A key belongs to one image of one request and is never reused.
    void reply
      .header('content-type', info.contentType)
      .header('etag', info.etag)
      .header('last-modified', info.lastModified.toUTCString())
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'public, max-age=31536000, immutable')
      .header('x-content-type-options', 'nosniff');
  }
}

function notFound(key: string): AppError {
  return new AppError(
    HttpStatus.NOT_FOUND,
    ErrorCode.FileNotFound,
    'File not found',
    `No file is stored under ${key}.`,
  );
}
