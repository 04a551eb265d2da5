import { Image } from './products/image.entity.js';
import { Product } from './products/product.entity.js';
import { ReusableOutput } from './products/reusable-output.entity.js';
import { SourceValidator } from './products/source-validator.entity.js';
import { SourceHost } from './products/source-host.entity.js';
import { TenantTurn } from './products/tenant-turn.entity.js';
import { ProcessingRequest } from './requests/processing-request.entity.js';
import { WebhookAttempt } from './webhooks/webhook-attempt.entity.js';
import { WebhookDelivery } from './webhooks/webhook-delivery.entity.js';

/** Every entity, listed at the composition root (like AppModule), for the ORM of the app, the CLI and the tests. */
export const ENTITIES = [
  ProcessingRequest,
  Product,
  Image,
  TenantTurn,
  SourceHost,
  SourceValidator,
  ReusableOutput,
  WebhookDelivery,
  WebhookAttempt,
];
