import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { ParseRequestIdPipe } from '../common/parse-request-id.pipe.js';
import { LegacyStatusDto, RequestStatusDto } from './dto/request-status.dto.js';
import { RequestsService } from './requests.service.js';

const STATUS_PROBLEMS = { 400: 'Malformed request id', 404: 'Unknown request id' };

@ApiTags('requests')
@Controller()
export class RequestsController {
  constructor(private readonly requests: RequestsService) {}

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
