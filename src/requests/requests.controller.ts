import {
  applyDecorators,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { LegacyAlias } from '../common/legacy-alias.decorator.js';
import { RateLimit } from '../common/rate-limit.decorator.js';
import { ParseRequestIdPipe } from '../common/parse-request-id.pipe.js';
import { CallerTenant } from '../security/tenant.js';
import { ListRequestsQuery } from './dto/list-requests.query.js';
import { RequestListDto } from './dto/request-list.dto.js';
import { LegacyStatusDto, RequestStatusDto } from './dto/request-status.dto.js';
import { RetryRequestQuery } from './dto/retry-request.query.js';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestEventStreams } from './request-progress.service.js';
import { RequestLifecycle } from './request-lifecycle.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestsService } from './requests.service.js';

const STATUS_PROBLEMS = { 400: 'Malformed request id', 404: 'Unknown request id' };

/** A request's status by its id: the v1 route and its alias answer alike. */
function StatusResponses(): MethodDecorator {
  return applyDecorators(
    ApiParam({ name: 'id', format: 'uuid' }),
    ApiOkResponse({ type: RequestStatusDto, description: 'Status, counts and the first errors' }),
    ApiProblemResponses(STATUS_PROBLEMS),
  );
}

@ApiTags('requests')
@Controller()
export class RequestsController {
  constructor(
    private readonly requests: RequestsService,
    private readonly list: RequestListQuery,
    private readonly deletion: RequestDeletion,
    private readonly lifecycle: RequestLifecycle,
    private readonly streams: RequestEventStreams,
  ) {}

  @Get('api/v1/requests/:id/events')
  @ApiOperation({
    summary: 'Live progress as Server-Sent Events, then one terminal event',
    operationId: 'streamRequestEvents',
    description:
      'A `text/event-stream`. Each `progress` event (at most four a second, only when something changed) carries ' +
      'the counts, percent, `imagesPerSecond` and `etaSeconds` as JSON; one `done` event with the terminal status ' +
      'follows, and the stream ends. A finished request gets its `done` event at once. Each event id names the ' +
      'state it reports: reconnect with `Last-Event-ID` and the stream resumes without repeating it. Comment ' +
      'lines (`: keep-alive`) keep an idle connection open.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'The id of the last event received' })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({
    description: 'The event stream: `progress` events, then one `done` event',
    content: {
      'text/event-stream': {
        schema: { type: 'string' },
        example:
          'retry: 2000\n\nid: 0.120.3.0.processing\nevent: progress\ndata: {"requestId":"…","status":"processing",' +
          '"round":0,"counts":{…},"percent":41,"imagesPerSecond":35.2,"etaSeconds":5,"completedAt":null}\n\n',
      },
    },
  })
  @ApiProblemResponses(STATUS_PROBLEMS)
  async streamRequestEvents(
    @Param('id', ParseRequestIdPipe) id: string,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // A missing request still gets its 404 problem document; only then is the reply taken over.
    await this.requests.findOrFail(id);
    reply.hijack();
    await this.streams.open(id, lastEventId, request.raw, reply.raw);
  }

  @Post('api/v1/requests/:id/cancel')
  @RateLimit('writes')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Cancel a pending or processing request',
    operationId: 'cancelRequest',
    description:
      'The request is `cancelled` at once: its images without an outcome become `cancelled` and are not fetched ' +
      'any more, and the outcome of an image being processed right now is discarded. The export stays available ' +
      'with what was done, and a `request.cancelled` webhook event is sent. Cancelling a cancelled request ' +
      'answers its status again; a request that finished otherwise answers 409.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: RequestStatusDto, description: 'The cancelled request' })
  @ApiProblemResponses({
    ...STATUS_PROBLEMS,
    409: 'The request already finished (REQUEST_ALREADY_FINISHED)',
  })
  async cancelRequest(@Param('id', ParseRequestIdPipe) id: string): Promise<RequestStatusDto> {
    await this.lifecycle.cancel(id);
    return this.requests.getStatus(id);
  }

  @Post('api/v1/requests/:id/retry')
  @RateLimit('writes')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: "Queue a finished request's failed and cancelled images again",
    operationId: 'retryRequest',
    description:
      'The failed and cancelled images (with `only=transient`, the transient failures and the cancelled images) ' +
      'are queued again and the request goes back to `processing`, in a new `round`. It finishes again with a new ' +
      'webhook event (a new `webhook-id`) of the type its new terminal status calls for; each image is counted ' +
      'once, in its last outcome, and the export then shows the new outputs.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiAcceptedResponse({ type: RequestStatusDto, description: 'The request, processing again' })
  @ApiProblemResponses({
    ...STATUS_PROBLEMS,
    409: 'The request is still pending or processing (REQUEST_NOT_FINISHED)',
    422: 'No image is left to retry (NOTHING_TO_RETRY)',
  })
  async retryRequest(
    @Param('id', ParseRequestIdPipe) id: string,
    @Query() query: RetryRequestQuery,
  ): Promise<RequestStatusDto> {
    await this.lifecycle.retry(id, query.only === 'transient');
    return this.requests.getStatus(id);
  }

  @Get('api/v1/requests')
  @ApiOperation({
    summary: "The caller's requests, newest first, one page at a time (follow nextCursor)",
    operationId: 'listRequests',
    description:
      'Each item is the status summary of one request (counts, percent, timestamps, original file name). ' +
      'Filter by `status` (repeat it or separate values by commas) and by creation time; pass the same filters ' +
      'again with `cursor` to read the next page. With API keys set, only the requests made with keys of the ' +
      "caller's tenant are listed.",
  })
  @ApiOkResponse({ type: RequestListDto, description: 'One page of status summaries' })
  @ApiProblemResponses({ 400: 'Bad limit, status, date or cursor (VALIDATION_FAILED, INVALID_CURSOR)' })
  listRequests(@Query() query: ListRequestsQuery, @CallerTenant() tenant: string | null): Promise<RequestListDto> {
    return this.list.list(tenant, query);
  }

  @Delete('api/v1/requests/:id')
  @RateLimit('writes')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a finished request with its products, images, webhook deliveries and output files',
    operationId: 'deleteRequest',
    description:
      'Only a finished or cancelled request can be deleted (409 while it runs). Its products, images, webhook deliveries and ' +
      'output files go with it; its id answers 404 afterwards.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Deleted; the id answers 404 from now on' })
  @ApiProblemResponses({
    ...STATUS_PROBLEMS,
    409: 'The request is still pending or processing (REQUEST_NOT_FINISHED)',
  })
  deleteRequest(@Param('id', ParseRequestIdPipe) id: string): Promise<void> {
    return this.deletion.delete(id);
  }

  @Get('api/v1/requests/:id')
  @ApiOperation({
    summary: 'Status, counts and first errors of a processing request',
    operationId: 'getRequest',
    description:
      'Status, image and product counts, percent done, timestamps and the first image errors of one request, ' +
      'and the source hosts its waiting images are paused on (`pausedHosts`).',
  })
  @StatusResponses()
  getRequest(@Param('id', ParseRequestIdPipe) id: string): Promise<RequestStatusDto> {
    return this.requests.getStatus(id);
  }

  @Get('status/:id')
  @LegacyAlias('getStatusLegacy', 'Status', 'GET /api/v1/requests/{id}')
  @StatusResponses()
  getStatusLegacy(@Param('id', ParseRequestIdPipe) id: string): Promise<RequestStatusDto> {
    return this.requests.getStatus(id);
  }

  @Get('api/status')
  @ApiOperation({
    summary: 'Status by query parameter (alias of the original design, with its field names)',
    operationId: 'getStatusByQueryLegacy',
    description:
      'The status under the field names of the original design, with the id in the `request_id` query parameter.',
    deprecated: true,
  })
  @ApiQuery({ name: 'request_id', format: 'uuid' })
  @ApiOkResponse({ type: LegacyStatusDto, description: 'Status with the original field names beside the v1 ones' })
  @ApiProblemResponses(STATUS_PROBLEMS)
  async getStatusByQueryLegacy(@Query('request_id', ParseRequestIdPipe) id: string): Promise<LegacyStatusDto> {
    const status = await this.requests.getStatus(id);
    return { ...status, request_id: status.requestId, Created_at: status.createdAt, Completed: status.completed };
  }
}
