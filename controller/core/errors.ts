// Errors the core raises. They carry the object they are about, so the adapter that handles them
// (sync, CLI, webhook) can log once with full context and decide per failurePolicy.
import type { ReasonCode } from './reasons.ts';

/** The sidecar cannot be put into this workload as it stands (a name clash, a corrupt record). */
export class InjectionError extends Error {
  /** The rule (reasons.ts): most injection errors are `injection_error`; a few have their own. */
  readonly code: ReasonCode;

  constructor(message: string, code: ReasonCode = 'injection_error') {
    super(message);
    this.name = 'InjectionError';
    this.code = code;
  }
}

/** A MeshConfig that the schema let through but that cannot be used; `problems` lists every reason. */
export class MeshConfigError extends Error {
  readonly meshConfigName: string;
  readonly problems: readonly string[];

  constructor(meshConfigName: string, problems: readonly string[]) {
    super(`MeshConfig ${meshConfigName || '(unnamed)'} is invalid: ${problems.join('; ')}`);
    this.name = 'MeshConfigError';
    this.meshConfigName = meshConfigName;
    this.problems = problems;
  }
}
