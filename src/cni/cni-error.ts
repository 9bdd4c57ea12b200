import { PorticoError, type ErrorCode } from '../lib/errors.js';

/** A plugin error with the catalog code (mapped to a CNI numeric code by skel.ts) and details. */
export class CniError extends PorticoError {
  readonly details: string | undefined;
  constructor(code: ErrorCode, message: string, options: { details?: string; cause?: unknown } = {}) {
    super(code, message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'CniError';
    this.details = options.details;
  }
}
