// Base class of every Stratus error: a stable machine-readable `code` (STRATUS_ERR_*), an HTTP status
// for the edges that speak HTTP, and the details a user needs to act. Subclasses live next to the code
// that throws them; this module holds the base and the errors shared by every component.

export interface ErrorDetails {
  [key: string]: unknown;
}

export class StratusError extends Error {
  readonly code: string;
  readonly status: number;
  readonly details: ErrorDetails;

  constructor(code: string, message: string, opts: { status?: number; details?: ErrorDetails; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status ?? 500;
    this.details = opts.details ?? {};
  }

  /** A plain object that crosses process boundaries (HTTP problem details, MQTT replies). */
  toJSON(): { code: string; message: string; status: number; details: ErrorDetails } {
    return { code: this.code, message: this.message, status: this.status, details: this.details };
  }
}

/** Input that fails validation at an edge (REST, MQTT, CLI). */
export class ValidationError extends StratusError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('STRATUS_ERR_VALIDATION', message, { status: 400, details });
  }
}

export class NotFoundError extends StratusError {
  constructor(what: string, id: string) {
    super('STRATUS_ERR_NOT_FOUND', `${what} ${id} not found`, { status: 404, details: { what, id } });
  }
}

export class ConflictError extends StratusError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('STRATUS_ERR_CONFLICT', message, { status: 409, details });
  }
}

/** The component is starting or recovering; the caller should retry after `retryAfterSeconds`. */
export class NotReadyError extends StratusError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = 2) {
    super('STRATUS_ERR_NOT_READY', message, { status: 503, details: { retryAfterSeconds } });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Too many requests (failed authentications from one address, ...): retry after `retryAfterSeconds`. */
export class TooManyRequestsError extends StratusError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number, details: ErrorDetails = {}) {
    super('STRATUS_ERR_TOO_MANY_REQUESTS', message, { status: 429, details: { retryAfterSeconds, ...details } });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class ConfigError extends StratusError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('STRATUS_ERR_CONFIG', message, { status: 500, details });
  }
}

/** Normalises anything thrown into a StratusError so that edges can always report a code. */
export function asStratusError(err: unknown): StratusError {
  if (err instanceof StratusError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StratusError('STRATUS_ERR_INTERNAL', message, { cause: err });
}
