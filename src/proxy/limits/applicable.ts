/**
 * Which of the gateway's checks can apply to a person, so a request whose person has no rate
 * limit and no budget skips admit and reserve (two state writes) and only records its usage.
 *
 * The tenant's budgets and limits are kept per process with the store's policy version
 * (`GatewayState.policyVersion`), which every settings change on any replica bumps in the same
 * write: one cheap read per request tells whether the copy is current, so a budget or limit set
 * on one replica applies on every replica from their next request, exactly as before.
 * When the settings cannot be read (the store down under fail-open) nothing is skipped: the
 * state wrapper decides, as for any request. The tenant policy's budgets and limits for the
 * person (`extra`, never stored) count like stored ones.
 */
import { budgetCounter, type Budget } from "../model/budgets.ts";
import type { Person } from "../model/person.ts";
import { windowsFor, type RateDefaults, type RateLimit } from "../model/rate-windows.ts";
import { type GatewayState, StateUnavailable } from "../state/types.ts";

export interface PolicySnapshot {
  budgets: readonly Budget[];
  limits: readonly RateLimit[];
}

export interface Applicable {
  /** A rate limit (stored or configured) counts this person's requests. */
  admit: boolean;
  /** One of those limits counts tokens: the window is corrected after the answer. */
  tokensPerMinute: boolean;
  /** A budget (hard or soft) measures this person's spend: reserve first. */
  reserve: boolean;
}

const EVERYTHING: Applicable = { admit: true, tokensPerMinute: true, reserve: true };

export function applicable(person: Person, policy: PolicySnapshot | undefined, defaults: RateDefaults, now: number, extra?: PolicySnapshot): Applicable {
  if (!policy) return EVERYTHING;
  const limits = extra && extra.limits.length > 0 ? [...policy.limits, ...extra.limits] : policy.limits;
  const windows = windowsFor(person, limits, defaults);
  return {
    admit: windows.length > 0,
    tokensPerMinute: windows.some((w) => w.tpm !== undefined),
    reserve: (extra?.budgets.length ?? 0) > 0 || policy.budgets.some((b) => budgetCounter(b, person, now) !== undefined),
  };
}

export class PolicyCache {
  private readonly entries = new Map<string, { version: string; policy: Promise<PolicySnapshot | undefined> }>();

  constructor(private readonly state: Pick<GatewayState, "policyVersion" | "listBudgets" | "listLimits">) {}

  /**
   * The tenant's current budgets and limits, or undefined when they cannot be read.
   * A store that cannot be reached for the version throws StateUnavailable (fail-closed: 503).
   */
  async get(tenant: string): Promise<PolicySnapshot | undefined> {
    const version = await this.state.policyVersion(tenant);
    const hit = this.entries.get(tenant);
    if (hit && hit.version === version) return hit.policy;
    // concurrent requests that see the new version share one load
    const policy = this.load(tenant);
    this.entries.set(tenant, { version, policy });
    const forget = () => this.entries.get(tenant)?.policy === policy && this.entries.delete(tenant);
    const loaded = await policy.catch((e: unknown) => {
      forget();
      throw e;
    });
    if (!loaded) forget();
    return loaded;
  }

  private async load(tenant: string): Promise<PolicySnapshot | undefined> {
    try {
      const [budgets, limits] = await Promise.all([this.state.listBudgets(tenant), this.state.listLimits(tenant)]);
      return { budgets, limits };
    } catch (e) {
      if (e instanceof StateUnavailable) return undefined;
      throw e;
    }
  }
}
