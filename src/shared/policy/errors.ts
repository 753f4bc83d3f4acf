/** Why a policy was refused: each problem names the member (`groups.contractors.budgets[0].period`) and, for a file, its line. */

export interface PolicyIssue {
  /** The member at fault, e.g. `groups.contractors.budgets[0].period`; `(policy)` for the whole document. */
  member: string;
  /** What is wrong with it, e.g. `must be "day" or "month"`. */
  message: string;
  /** 1-based line in the source text, when known. */
  line?: number;
}

export type PolicyErrorCode =
  /** Not JSON or YAML (syntax error, duplicate key, too many aliases). */
  | "policy_syntax"
  /** Parsed, but against the schema or the rules the schema cannot express. */
  | "policy_invalid"
  /** The file could not be read (missing, unreadable, too large). */
  | "policy_unreadable";

export class PolicyError extends Error {
  override readonly name = "PolicyError";
  constructor(
    readonly code: PolicyErrorCode,
    /** Where the policy came from: a file path, `AGENT_RUNNER_PROXY_POLICY`, `the tenant's "policy" object`. */
    readonly origin: string,
    readonly issues: readonly PolicyIssue[],
    options?: { cause?: unknown },
  ) {
    super(issues.length === 0 ? `${origin}: invalid policy` : `${issueLine(origin, issues[0]!)}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`, options);
  }

  /** One line per problem: `policy.yaml:12: groups.x.budgets[0].period: must be "day" or "month"`. */
  lines(): string[] {
    return this.issues.map((issue) => issueLine(this.origin, issue));
  }
}

/** `origin:line: member: message` (the form compilers and CI annotations use). */
export const issueLine = (origin: string, issue: PolicyIssue): string => `${origin}${issue.line !== undefined ? `:${issue.line}` : ""}: ${issue.member}: ${issue.message}`;
