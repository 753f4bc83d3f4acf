/**
 * The policies of the tenants one process serves: one PolicySource per tenant with a `policy`,
 * opened (and so validated) before the gateway listens, watched, reloaded together on SIGHUP,
 * and counted for /metrics (`proxy_policy_reloads_total{tenant,result}`,
 * `proxy_policy_info{tenant,hash}`). `checkPolicySpec` is the same first load, synchronous, for
 * the option reader: a bad first file stops start-up with exit 2 before any worker is spawned.
 */
import { readFileSync, statSync } from "node:fs";
import { Counter, Gauge, type Registry } from "prom-client";
import { PolicyError } from "../../shared/policy/errors.ts";
import { MAX_POLICY_BYTES, parsePolicyText, validatePolicy } from "../../shared/policy/parse.ts";
import { logEvent } from "../telemetry/log.ts";
import { type PolicySpec, PolicySource, type ReloadResult } from "./source.ts";

/** Throws the PolicyError of a policy that cannot be the first one (missing, unreadable, invalid). */
export function checkPolicySpec(spec: PolicySpec): void {
  if ("inline" in spec) {
    validatePolicy(spec.inline, spec.where);
    return;
  }
  let text: string;
  try {
    const info = statSync(spec.path);
    if (!info.isFile()) throw new PolicyError("policy_unreadable", spec.path, [{ member: "(policy)", message: "is not a regular file" }]);
    if (info.size > MAX_POLICY_BYTES) throw new PolicyError("policy_unreadable", spec.path, [{ member: "(policy)", message: `is larger than ${MAX_POLICY_BYTES} bytes` }]);
    text = readFileSync(spec.path, "utf8");
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw new PolicyError("policy_unreadable", spec.path, [{ member: "(policy)", message: missing ? "does not exist" : `cannot be read: ${(e as Error).message}` }], { cause: e });
  }
  parsePolicyText(text, spec.path);
}

export class TenantPolicies {
  private readonly counts = new Map<string, number>();

  private constructor(private readonly sources: Map<string, PolicySource>) {}

  /** Opens the policy of every tenant that has one; throws the first invalid one's PolicyError. */
  static async open(tenants: readonly { slug: string; policy?: PolicySpec }[], options: { watch?: boolean } = {}): Promise<TenantPolicies> {
    const policies = new TenantPolicies(new Map());
    try {
      for (const t of tenants) {
        if (!t.policy) continue;
        const slug = t.slug;
        const source = await PolicySource.open(t.policy, {
          log: (level, message, fields) => logEvent(level, `tenant ${slug}: ${message}`, { tenant: slug, ...fields }),
          reloads: { inc: ({ result }) => policies.count(slug, result) },
        });
        policies.sources.set(slug, options.watch === false ? source : source.watch());
      }
    } catch (e) {
      policies.close();
      throw e;
    }
    return policies;
  }

  static none(): TenantPolicies {
    return new TenantPolicies(new Map());
  }

  get(slug: string): PolicySource | undefined {
    return this.sources.get(slug);
  }

  get size(): number {
    return this.sources.size;
  }

  /** SIGHUP: every file read again and reported, even when it looks unchanged. */
  async reloadAll(): Promise<void> {
    await Promise.all([...this.sources.values()].map((s) => s.reload({ force: true })));
  }

  close(): void {
    for (const s of this.sources.values()) s.close();
  }

  /** Registers the reload counter and the info gauge (the hash in force) on a proxy's registry. */
  register(registry: Registry): void {
    const counts = this.counts;
    const sources = this.sources;
    new Counter({
      name: "proxy_policy_reloads_total",
      help: "Policy file reloads by tenant and result: applied, unchanged, invalid (the policy in force kept), missing",
      labelNames: ["tenant", "result"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, n] of counts) {
          const [tenant, result] = key.split("\n") as [string, string];
          this.labels(tenant, result).inc(n);
        }
      },
    });
    new Gauge({
      name: "proxy_policy_info",
      help: "The policy in force per tenant: 1 for its sha256 hash",
      labelNames: ["tenant", "hash"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [tenant, s] of sources) this.labels(tenant, `sha256:${s.current().compiled.hash}`).set(1);
      },
    });
  }

  private count(slug: string, result: ReloadResult): void {
    const key = `${slug}\n${result}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
}
