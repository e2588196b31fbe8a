/**
 * The API's error catalogue and its one error handler. Every error leaves as `{ error, message }`; 5xx
 * details are logged, never sent, because they may carry internals (paths, stack frames, state).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { ErrorBody } from './schemas.ts';

const ERROR_CODES = {
  bad_request: 'a parameter is missing or invalid',
  bad_cursor: 'the cursor is not one this API issued',
  unauthorized: 'no valid API key (Authorization: Bearer <key>)',
  forbidden: 'the API key\'s scope does not cover this endpoint',
  rate_limited: 'too many requests for this API key or client',
  not_found: 'no such route',
  method_not_allowed: 'the route does not accept this method',
  unknown_host: 'the Host header names a host this service does not answer to (ALLOWED_HOSTS)',
  payload_too_large: 'the request body exceeds the size limit',
  uri_too_long: 'a path parameter is longer than allowed',
  unsupported_media_type: 'the request body has an unsupported content type',
  unknown_vm: 'no live VM has this id',
  unknown_tenant: 'no tenant has this id',
  unknown_cluster: 'the latest run has no cluster with this id',
  unknown_group: 'the latest run has no affinity group with this id',
  no_affinity: 'the latest run has no affinity groups (it was not computed from traffic)',
  no_placement: 'the latest run has no placement advice (it was not computed from traffic)',
  unknown_run: 'no run with this id in the service\'s history',
  no_run: 'no clustering run has completed yet',
  internal: 'internal error',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/** An expected failure with its status and code; handlers throw it and the error handler shapes it. */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ErrorCode,
    message?: string,
  ) {
    super(message ?? ERROR_CODES[code]);
    this.name = 'ApiError';
  }
}

export const noRun = (): ApiError => new ApiError(503, 'no_run', 'no clustering run has completed yet; retry shortly');

/** Codes for Fastify's own 4xx errors (body parsing, limits), whose messages hold nothing internal. */
const CODE_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
};

function validationMessage(error: FastifyError): string {
  const where = error.validationContext ?? 'request';
  if (hasZodFastifySchemaValidationErrors(error)) {
    return error.validation
      .map((v) => {
        const param = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
        return `${param === '' ? where : param}: ${v.message}`;
      })
      .join('; ');
  }
  return error.message;
}

/** bad_cursor when the cursor is all that is wrong, as when paging.ts refuses it; else bad_request. */
function validationCode(error: FastifyError): ErrorCode {
  const onlyCursor = error.validation !== undefined && error.validation.length > 0 && error.validation.every((v) => v.instancePath === '/cursor');
  return onlyCursor ? 'bad_cursor' : 'bad_request';
}

export function errorBody(code: ErrorCode, message?: string): ErrorBody {
  return { error: code, message: message ?? ERROR_CODES[code] };
}

export function handleError(error: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ApiError) {
    return reply.code(error.statusCode).send(errorBody(error.code, error.message));
  }
  if (error.validation) {
    return reply.code(400).send(errorBody(validationCode(error), validationMessage(error)));
  }
  const status = typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status >= 400 && status < 500) {
    request.log.info({ err: error }, 'client error');
    return reply.code(status).send(errorBody(CODE_BY_STATUS[status] ?? 'bad_request', error.message));
  }
  request.log.error({ err: error, method: request.method, url: request.url }, 'request failed');
  return reply.code(500).send(errorBody('internal'));
}
