/** Base class for every error CityGate raises on purpose: a stable `code` plus a human message. */
export class CityGateError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CityGateError';
    this.code = code;
  }
}

/** A document (config, profile, payload, API input) failed validation; `issues` name JSON paths. */
export class ValidationError extends CityGateError {
  readonly issues: readonly string[];
  constructor(what: string, issues: readonly string[]) {
    super('invalid', `${what} is invalid:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ValidationError';
    this.issues = issues;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
