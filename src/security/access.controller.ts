import { Controller, Get, Req } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { Public } from '../common/public.decorator.js';
import { AppConfig } from '../config/app-config.js';
import { API_KEY_HEADER } from './api-key-verifier.js';
import { isLocalClient } from './client-address.js';
import { AccessDto } from './dto/access.dto.js';

/**
 * How this server admits callers, for a client (the web page) to ask for a key
 * before its first call is refused. Public, and it checks no key: a key oracle
 * outside the guard's rate limits would make guessing keys free.
 */
@ApiTags('access')
@ApiProblemResponses({ 431: 'Request headers over 16 KB (HEADERS_TOO_LARGE)' })
@Public()
@Controller()
export class AccessController {
  constructor(private readonly config: AppConfig) {}

  @Get('api/v1/access')
  @ApiOperation({
    summary: 'How this server admits callers: whether an API key is required',
    operationId: 'getAccess',
    description:
      'Needs no key and is not rate-limited. Tells a client whether to ask for an API key before calling, and ' +
      'whether it is refused outright (protected mode, from another machine). It does not check a key.',
  })
  @ApiOkResponse({ type: AccessDto })
  getAccess(@Req() request: FastifyRequest): AccessDto {
    const mode = this.config.accessMode;
    return {
      mode,
      apiKeyRequired: mode === 'keys',
      apiKeyHeader: API_KEY_HEADER,
      clientAllowed: mode !== 'protected' || isLocalClient(request),
    };
  }
}
