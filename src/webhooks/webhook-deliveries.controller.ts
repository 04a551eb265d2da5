import { Controller, Get, HttpCode, HttpStatus, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiProblemResponses } from '../common/api-problem-responses.decorator.js';
import { RateLimit } from '../common/rate-limit.decorator.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import { ParseRequestIdPipe } from '../common/parse-request-id.pipe.js';
import { WebhookDeliveryDto, WebhookDeliveryListDto } from './dto/webhook-delivery.dto.js';
import { WebhookEventDto } from './dto/webhook-event.dto.js';
import { WebhookDeliveriesService } from './webhook-deliveries.service.js';

// eslint-disable-next-line no-useless-assignment -- false positive: read by @Param below; the rule misses parameter decorators (eslint/eslint#20947)
const parseDeliveryId = new ParseUUIDPipe({
  exceptionFactory: () =>
    new AppError(HttpStatus.BAD_REQUEST, ErrorCode.InvalidId, 'Invalid delivery id', 'A delivery id is a UUID.'),
});

@ApiTags('webhooks')
@ApiExtraModels(WebhookEventDto)
@Controller('api/v1/requests/:id/webhook-deliveries')
export class WebhookDeliveriesController {
  constructor(private readonly deliveries: WebhookDeliveriesService) {}

  @Get()
  @ApiOperation({
    summary: 'Webhook deliveries of a request with every attempt: time, status code, duration, error, next attempt',
    operationId: 'listWebhookDeliveries',
    description:
      'Every webhook delivery of the request with each attempt made: time, HTTP status, duration, error and the next scheduled attempt.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiOkResponse({ type: WebhookDeliveryListDto })
  @ApiProblemResponses({ 400: 'Malformed request id', 404: 'Unknown request id' })
  listWebhookDeliveries(@Param('id', ParseRequestIdPipe) id: string): Promise<WebhookDeliveryListDto> {
    return this.deliveries.list(id);
  }

  @Post(':deliveryId/redeliver')
  @RateLimit('writes')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Send a finished delivery once more, with the same webhook-id and body (a new timestamp and signature)',
    operationId: 'redeliverWebhook',
    description:
      'Queues one more attempt of a finished delivery with the same webhook-id and body; 409 while an attempt is in progress.',
  })
  @ApiParam({ name: 'id', format: 'uuid' })
  @ApiParam({ name: 'deliveryId', format: 'uuid' })
  @ApiAcceptedResponse({ type: WebhookDeliveryDto, description: 'The attempt is queued; poll the delivery list' })
  @ApiProblemResponses({
    400: 'Malformed id',
    404: 'Unknown request or delivery id',
    409: 'The delivery has not finished: an attempt is in flight or scheduled',
  })
  redeliverWebhook(
    @Param('id', ParseRequestIdPipe) id: string,
    @Param('deliveryId', parseDeliveryId) deliveryId: string,
  ): Promise<WebhookDeliveryDto> {
    return this.deliveries.redeliver(id, deliveryId);
  }
}
