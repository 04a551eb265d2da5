import type {
  OpenAPIObject,
  OperationObject,
  ParameterObject,
  PathItemObject,
  ReferenceObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger';

/**
 * Typed steps through the OpenAPI document the app serves at /docs-json. Each
 * throws, failing the test, where the document lacks what the step looks for
 * or has a `$ref` where the test reads the object itself.
 */

export type { OpenAPIObject, OperationObject, SchemaObject };

export type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'patch' | 'head' | 'options';

/** A `$ref` in place of the object it points to. */
export function isReference(value: object): value is ReferenceObject {
  return '$ref' in value;
}

/** The object itself, not missing and not a `$ref`. */
export function inline<T extends object>(value: T | ReferenceObject | undefined, what: string): T {
  if (value === undefined) throw new Error(`OpenAPI: no ${what}`);
  if (isReference(value)) throw new Error(`OpenAPI: ${what} is a reference to ${value.$ref}`);
  return value;
}

export function operation(document: OpenAPIObject, method: HttpMethod, path: string): OperationObject {
  const item: PathItemObject | undefined = document.paths[path];
  const found = item?.[method];
  if (!found) throw new Error(`OpenAPI: no ${method.toUpperCase()} ${path}`);
  return found;
}

export function parameter(of: OperationObject, name: string): ParameterObject {
  const found = of.parameters?.find(
    (candidate): candidate is ParameterObject => !isReference(candidate) && candidate.name === name,
  );
  if (!found) throw new Error(`OpenAPI: no parameter ${name} on ${of.operationId}`);
  return found;
}

export function response(of: OperationObject, status: string): ResponseObject {
  return inline(of.responses[status], `${status} response of ${of.operationId}`);
}

/** The schema of an operation's multipart/form-data request body. */
export function formSchema(of: OperationObject): SchemaObject {
  const body = inline(of.requestBody, `request body of ${of.operationId}`);
  return inline(body.content['multipart/form-data']?.schema, `form schema of ${of.operationId}`);
}

/** A schema of components.schemas. */
export function component(document: OpenAPIObject, name: string): SchemaObject {
  return inline(document.components?.schemas?.[name], `component schema ${name}`);
}

/** A property of an object schema. */
export function property(schema: SchemaObject, name: string): SchemaObject {
  return inline(schema.properties?.[name], `property ${name}`);
}
