/** One line of `doctor`'s report: what was checked, how it went, and the fix when it did not. */
export type Verdict = "pass" | "warn" | "fail" | "skip";

export interface Check {
  name: string;
  verdict: Verdict;
  detail: string;
  fix?: string;
}
