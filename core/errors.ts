// The few domain errors of Serflow, and the one place that maps them to HTTP status.
export class SerflowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** The request is malformed: bad JSON, wrong name/shape/datatype, non-finite values. */
export class InvalidInputError extends SerflowError {}
/** A model or route that does not exist. */
export class NotFoundError extends SerflowError {}
export class MethodNotAllowedError extends SerflowError {}
export class PayloadTooLargeError extends SerflowError {}
/** Missing or wrong admin token, or a bad signature on an internal call. */
export class UnauthorizedError extends SerflowError {}
/** An authenticated caller asking for what it may not have: a VM its provider did not launch, another's id. */
export class ForbiddenError extends SerflowError {}
/** Not ready yet, or overloaded: the client should retry after `retryAfterS`. */
export class UnavailableError extends SerflowError {
  constructor(
    message: string,
    readonly retryAfterS = 1,
  ) {
    super(message);
  }
}
/**
 * A model whose onnxruntime sessions did not load in this isolate: not ready. `stage` is the stage that
 * failed (null when the failure belongs to no one stage); `reason` says why, in the operator's terms.
 */
export class ModelLoadError extends UnavailableError {
  constructor(
    readonly model: string,
    readonly stage: number | null,
    readonly reason: string,
    retryAfterS: number,
  ) {
    super(`model "${model}"${stage === null ? "" : ` stage ${stage}`} failed to load: ${reason}`, retryAfterS);
  }

  /** The same failure, answered from memory with `retryAfterS` left before the next load. */
  retryIn(retryAfterS: number): ModelLoadError {
    return new ModelLoadError(this.model, this.stage, this.reason, retryAfterS);
  }
}
/** A model file or manifest that cannot be loaded. */
export class InvalidManifestError extends SerflowError {}
/** A configuration that cannot work; the message names the key. */
export class InvalidConfigError extends SerflowError {}

/** Every status a Serflow error maps to (hono's status types take these without a cast). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 413 | 500 | 503;

export interface ErrorResponse {
  status: ErrorStatus;
  body: { error: string };
  headers: Record<string, string>;
}

export function errorResponse(err: unknown): ErrorResponse {
  const message = err instanceof Error ? err.message : String(err);
  const headers: Record<string, string> = {};
  let status: ErrorStatus = 500;
  if (err instanceof InvalidInputError) status = 400;
  else if (err instanceof UnauthorizedError) status = 401;
  else if (err instanceof ForbiddenError) status = 403;
  else if (err instanceof NotFoundError) status = 404;
  else if (err instanceof MethodNotAllowedError) status = 405;
  else if (err instanceof PayloadTooLargeError) status = 413;
  else if (err instanceof UnavailableError) {
    status = 503;
    headers["Retry-After"] = String(err.retryAfterS);
  }
  const error =
    status !== 500
      ? message
      : err instanceof InvalidConfigError
        ? `server misconfigured: ${message}`
        : `inference failed: ${message}`;
  return { status, body: { error }, headers };
}
