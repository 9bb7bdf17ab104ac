// Public surface of the error registry: one error class per registered code, all built by
// `cofferError(code, message, details)` so that code, class name and docs never drift apart.
import { errorRegistry, type ErrorCode } from './registry.js';

export type { ErrorCode, ErrorSpec } from './registry.js';
export { errorRegistry } from './registry.js';

export type ErrorDetails = Readonly<Record<string, unknown>>;

/** Every user-visible Coffer error: `name` is the class name from the registry, `code` is stable. */
export class CofferError extends Error {
  override readonly name: string;
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  /** What the user should do, from the registry. */
  readonly fix: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    const spec = errorRegistry[code];
    this.name = spec.className;
    this.code = code;
    this.details = details;
    this.fix = spec.fix;
  }

  toJSON(): { code: ErrorCode; name: string; message: string; fix: string; details: ErrorDetails } {
    return {
      code: this.code,
      name: this.name,
      message: this.message,
      fix: this.fix,
      details: this.details,
    };
  }
}

export function cofferError(
  code: ErrorCode,
  message: string,
  details: ErrorDetails = {},
  cause?: unknown,
): CofferError {
  return new CofferError(code, message, details, cause);
}

export function isCofferError(value: unknown, code?: ErrorCode): value is CofferError {
  return value instanceof CofferError && (code === undefined || value.code === code);
}

/** A typed result for the world's errors (STYLE.md 6): callers must look before they use. */
export type Result<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CofferError };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(error: CofferError): Result<T> {
  return { ok: false, error };
}
