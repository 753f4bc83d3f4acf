/** What budget alerts are about (issue 18 §4): a person's, group's or tenant's spend against one budget in one period. */

export type AlertScope = "user" | "group" | "tenant";
export type AlertFormat = "json" | "slack";

/** One budget's figures, as the gateway knows them after a request settles. */
export interface BudgetObservation {
  tenant: string;
  scope: AlertScope;
  /** The person's `sub`, the group's name, or "*" for the tenant. */
  subject: string;
  /** For people: the display name (email or username); for groups and the tenant: the name. */
  subjectName: string;
  budget: {
    /** Which budget: the policy member (`groups.contractors.budgets[0]`), or `admin API`. */
    name: string;
    /** Where it comes from: `group contractors`, `default`, `admin API`. */
    source: string;
    period: "day" | "month";
    unit: "usd" | "tokens";
    /** Micro-dollars for usd, tokens for tokens (the ledger's units). */
    limit: number;
    soft: boolean;
  };
  /** The period's key: `2026-12-04` or `2026-12` (UTC). */
  periodKey: string;
  /** Spent in the period so far, in the budget's unit. */
  spent: number;
  /** When the period ends (epoch ms). */
  resetsAt: number;
  /**
   * A hard budget refused a request: the next estimate does not fit, so the budget is used up for
   * all purposes though the spend may stay short of the limit (never reaching 100 % by itself).
   */
  refusing?: true;
}

/** One alert to send: a threshold of a budget reached in a period. */
export interface BudgetAlert {
  /** Stable for the key: the receiver's idempotency key. */
  id: string;
  /** "Once on any replica" is decided on this. */
  key: string;
  observation: BudgetObservation;
  threshold: number;
  /** When it was detected (epoch ms). */
  detectedAt: number;
}

/** An alert as the spool keeps it, with who claimed it and how delivery went so far. */
export interface SpooledAlert extends BudgetAlert {
  claimant: string;
  attempts: number;
}
