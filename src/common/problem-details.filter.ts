import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from './app-error.js';
import { allowedMethods } from './route-catalog.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export const PROBLEM_TYPE_BASE = 'https://pixbatch.dev/problems/';

export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  [HttpStatus.BAD_REQUEST]: ErrorCode.BadRequest,
  [HttpStatus.NOT_FOUND]: ErrorCode.NotFound,
  [HttpStatus.METHOD_NOT_ALLOWED]: ErrorCode.MethodNotAllowed,
  [HttpStatus.PAYLOAD_TOO_LARGE]: ErrorCode.PayloadTooLarge,
  [HttpStatus.UNSUPPORTED_MEDIA_TYPE]: ErrorCode.UnsupportedMediaType,
  [HttpStatus.TOO_MANY_REQUESTS]: ErrorCode.RateLimited,
  [HttpStatus.SERVICE_UNAVAILABLE]: ErrorCode.ServiceUnavailable,
};

/** Fastify's own errors (body parser, multipart limits) carry a statusCode and an FST_ code. */
interface FrameworkError {
  statusCode?: number;
  code?: string;
  message?: string;
}

/**
 * Turns every error into an RFC 9457 problem document: our own errors keep
 * their code, Nest and Fastify errors get one derived from the status, and
 * anything unknown becomes a logged 500 that reveals nothing internal.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const path = request.url.split('?')[0];
    let problem = this.toProblem(exception);
    // Nest's 404 for an unmatched route (a NotFoundException's status is always 404): maybe another method matches.
    if (exception instanceof NotFoundException) {
      const allowed = allowedMethods(request.server, path);
      if (allowed.length > 0 && !allowed.includes(request.method)) {
        void reply.header('allow', allowed.join(', '));
        problem = methodNotAllowed(request.method, allowed);
      }
    }
    problem.instance = path;
    if (problem.status >= 500) {
      this.logger.error(
        `${request.method} ${request.url} failed`,
        exception instanceof Error ? exception.stack : String(exception),
      );
    }
    void reply.status(problem.status).header('content-type', PROBLEM_CONTENT_TYPE).send(problem);
  }

  private toProblem(exception: unknown): ProblemDocument {
    if (exception instanceof AppError) {
      return problem(exception.status, exception.code, exception.title, exception.detail, exception.extensions);
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const body = exception.getResponse();
      const code = CODE_BY_STATUS[status] ?? (status >= 500 ? ErrorCode.Internal : ErrorCode.BadRequest);
      if (typeof body === 'object' && body !== null && Array.isArray((body as { message?: unknown }).message)) {
        // class-validator messages from the global ValidationPipe.
        const messages = (body as { message: string[] }).message;
        return problem(status, ErrorCode.ValidationFailed, 'The request is invalid', messages.join('; '), {
          errors: messages.map((message) => ({ message })),
        });
      }
      return problem(status, code, httpTitle(status), exception.message);
    }
    const framework = exception as FrameworkError;
    if (typeof framework?.statusCode === 'number' && framework.statusCode >= 400 && framework.statusCode < 500) {
      const status = framework.statusCode;
      return problem(status, CODE_BY_STATUS[status] ?? ErrorCode.BadRequest, httpTitle(status), framework.message);
    }
    return problem(
      HttpStatus.INTERNAL_SERVER_ERROR,
      ErrorCode.Internal,
      'Internal server error',
      'An unexpected error occurred.',
    );
  }
}

function methodNotAllowed(method: string, allowed: string[]): ProblemDocument {
  return problem(
    HttpStatus.METHOD_NOT_ALLOWED,
    ErrorCode.MethodNotAllowed,
    'Method not allowed',
    `${method} is not supported here; use ${allowed.join(', ')} (see the Allow header).`,
  );
}

function problem(
  status: number,
  code: string,
  title: string,
  detail?: string,
  extensions: Record<string, unknown> = {},
): ProblemDocument {
  return {
    type: PROBLEM_TYPE_BASE + code.toLowerCase().replaceAll('_', '-'),
    title,
    status,
    code,
    ...(detail ? { detail } : {}),
    ...extensions,
  };
}

function httpTitle(status: number): string {
  const name = HttpStatus[status];
  if (!name) return 'Error';
  const words = name.toLowerCase().split('_').join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}
