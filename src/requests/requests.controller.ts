import { Controller, Delete, Get, HttpCode, HttpStatus, Param, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { ParseRequestIdPipe } from '../common/parse-request-id.pipe.js';
import { CallerTenant } from '../security/tenant.js';
import { ListRequestsQuery } from './dto/list-requests.query.js';
import { RequestListDto } from './dto/request-list.dto.js';
import { LegacyStatusDto, RequestStatusDto } from './dto/request-status.dto.js';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestsService } from './requests.service.js';

const STATUS_PROBLEMS = { 400: 'Malformed request id', 404: 'Unknown request id' };

@ApiTags('requests')
@Controller()
export class RequestsController {
  constructor(
    private readonly requests: RequestsService,
    private readonly list: RequestListQuery,
    private readonly deletion: RequestDeletion,
  ) {}

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
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a finished request with its products, images, webhook deliveries and output files',
    operationId: 'deleteRequest',
    description:
      'Only a finished request can be deleted (409 while it runs). Its products, images, webhook deliveries and ' +
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
      'Status, image and product counts, percent done, timestamps and the first image errors of one request.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: RequestStatusDto, description: 'Status, counts and the first errors' })
  @ApiProblemResponses(STATUS_PROBLEMS)
  getRequest(@Param('id', ParseRequestIdPipe) id: string): Promise<RequestStatusDto> {
    return this.requests.getStatus(id);
  }

  @Get('status/:id')
  @ApiOperation({
    summary: 'Status (alias of the original design)',
    operationId: 'getStatusLegacy',
    description:
      'Same as GET /api/v1/requests/{id}, kept for clients of the original design.',
    deprecated: true,
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: RequestStatusDto, description: 'Status, counts and the first errors' })
  @ApiProblemResponses(STATUS_PROBLEMS)
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
