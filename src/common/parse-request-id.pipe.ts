import { HttpStatus, Injectable, PipeTransform } from '@nestjs/common';
import { AppError, ErrorCode } from './app-error.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/** Rejects a malformed id with 400 before it reaches PostgreSQL's uuid cast. */
@Injectable()
export class ParseRequestIdPipe implements PipeTransform<unknown, string> {
  transform(value: unknown): string {
    if (!isRequestId(value)) {
      throw new AppError(
        HttpStatus.BAD_REQUEST,
        ErrorCode.InvalidId,
        'Invalid request id',
        'A request id is a UUID such as 3f2c7a9e-8d41-4c1b-9f0e-2b6d5a7c8e10.',
      );
    }
    return value.toLowerCase();
  }
}
