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
 * A 503 the request's own override caused (`serflow_force` asking for a tier that cannot take it): the
 * caller's choice, not a failure of the system, so it is not counted as one.
 */
export class ForcedUnavailableError extends UnavailableError {}
/**
 * A model whose onnxruntime sessions did not load in this isolate: not ready. `stage` is the stage that
 * failed (null when the failure belongs to no one stage); `reason` says why, in the operator's terms
 * (R2 keys, binding and file names), and `ref` finds the failure in the log.
 */
export class ModelLoadError extends UnavailableError {
  constructor(
    readonly model: string,
    readonly stage: number | null,
    readonly reason: string,
    retryAfterS: number,
    readonly ref: string = newRef(),
  ) {
    super(`${loadWhat(model, stage)} failed to load: ${reason} (ref ${ref})`, retryAfterS);
  }

  /** What a caller without the admin token is told: which model and stage, and the ref, not the reason. */
  get publicMessage(): string {
    return `${loadWhat(this.model, this.stage)} failed to load (ref ${this.ref})`;
  }

  /** The same failure (same ref), answered from memory with `retryAfterS` left before the next load. */
  retryIn(retryAfterS: number): ModelLoadError {
    return new ModelLoadError(this.model, this.stage, this.reason, retryAfterS, this.ref);
  }
}
const loadWhat = (model: string, stage: number | null) => `model "${model}"${stage === null ? "" : ` stage ${stage}`}`;

/** A model file or manifest that cannot be loaded. */
export class InvalidManifestError extends SerflowError {}
/** A configuration that cannot work; the message names the key. */
export class InvalidConfigError extends SerflowError {}

/**
 * A Serflow error as data, for a Workers RPC call: a thrown error crosses one with only its message and a
 * standard type's name, so a 503 with Retry-After (a stage that failed to load in the other invocation)
 * would arrive as a bare Error, a 500.
 */
export interface WireError {
  /** The class, by its key in WIRE_KINDS (not Error.name, which a bundler may rename); absent: a bare Error. */
  kind?: keyof typeof WIRE_KINDS;
  message: string;
  retryAfterS?: number;
  load?: { model: string; stage: number | null; reason: string; ref: string };
}

// Subclasses before their base: the first match names the class.
const WIRE_KINDS = {
  ForcedUnavailableError,
  UnavailableError,
  InvalidInputError,
  NotFoundError,
  MethodNotAllowedError,
  PayloadTooLargeError,
  UnauthorizedError,
  ForbiddenError,
  InvalidManifestError,
  InvalidConfigError,
} as const;

export function toWire(err: unknown): WireError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof ModelLoadError) {
    const { model, stage, reason, ref } = err;
    return { message, retryAfterS: err.retryAfterS, load: { model, stage, reason, ref } };
  }
  const kind = (Object.keys(WIRE_KINDS) as (keyof typeof WIRE_KINDS)[]).find((k) => err instanceof WIRE_KINDS[k]);
  return {
    ...(kind ? { kind } : {}),
    message,
    ...(err instanceof UnavailableError ? { retryAfterS: err.retryAfterS } : {}),
  };
}

/** The error `toWire` described: the same class, status, message and Retry-After (and a load's ref). */
export function fromWire(w: WireError): Error {
  if (w.load) return new ModelLoadError(w.load.model, w.load.stage, w.load.reason, w.retryAfterS ?? 1, w.load.ref);
  const Kind = w.kind && Object.hasOwn(WIRE_KINDS, w.kind) ? WIRE_KINDS[w.kind] : Error;
  return Kind === UnavailableError || Kind === ForcedUnavailableError
    ? new Kind(w.message, w.retryAfterS)
    : new Kind(w.message);
}

/** Every status a Serflow error maps to (hono's status types take these without a cast). */
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 413 | 500 | 503;

export interface ErrorResponse {
  status: ErrorStatus;
  body: { error: string };
  headers: Record<string, string>;
  /** On a 500: the ref its body names; the caller logs the full error under it. */
  ref?: string;
}

/** A short random id that ties an answer to its line in the log. */
export function newRef(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function statusOf(err: unknown): ErrorStatus {
  if (err instanceof InvalidInputError) return 400;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof MethodNotAllowedError) return 405;
  if (err instanceof PayloadTooLargeError) return 413;
  if (err instanceof UnavailableError) return 503;
  return 500;
}

/**
 * Whether `err` is a failure of the system (serflow_request_failures_total): a 5xx, but not one the
 * request chose. Anyone may send serflow_force, so counting those would let strangers raise the count.
 */
export function countsAsFailure(err: unknown): boolean {
  return statusOf(err) >= 500 && !(err instanceof ForcedUnavailableError);
}

/**
 * The answer to `err`. 4xx messages describe the caller's own request and other 503s a state anyone may
 * know: the same for everyone. A 500's message and a failed load's reason name internals (keys, bindings,
 * files, variables): only a caller with `detail` (the admin token) gets them; anyone else gets what is
 * wrong in their terms and a ref the full error is logged under.
 */
export function errorResponse(err: unknown, opts: { detail?: boolean; ref?: string } = {}): ErrorResponse {
  const message = err instanceof Error ? err.message : String(err);
  const status = statusOf(err);
  const headers: Record<string, string> = {};
  if (err instanceof UnavailableError) headers["Retry-After"] = String(err.retryAfterS);
  if (status !== 500) {
    const error = err instanceof ModelLoadError && !opts.detail ? err.publicMessage : message;
    return { status, body: { error }, headers };
  }
  const ref = opts.ref ?? newRef();
  const what = err instanceof InvalidConfigError ? "server misconfigured" : "internal error";
  const error = opts.detail ? `${what}: ${message} (ref ${ref})` : `${what} (ref ${ref})`;
  return { status, body: { error }, headers, ref };
}
