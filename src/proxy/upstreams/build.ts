/**
 * A tenant's pool from its configuration: each member's key source or credentials opened (a key
 * file that cannot be read fails the start, naming the upstream), its adaptor built, the pool
 * around them. What the process provides (fetch, clock, random, logger, request ids, the AWS
 * credential chain) is handed in.
 */
import { AnthropicUpstream } from "./anthropic.ts";
import { BedrockUpstream } from "./bedrock/adaptor.ts";
import { CredentialCache, type CredentialProvider, defaultCredentialProvider } from "./bedrock/credentials.ts";
import { BedrockModelMap, DEFAULT_BEDROCK_MODELS } from "./bedrock/models.ts";
import type { BedrockUpstreamConfig, PoolConfig, UpstreamConfig } from "./config.ts";
import { type KeyFiles, type KeySource, openKeySource, StaticKeySource } from "./key-source.ts";
import { Pool } from "./pool.ts";
import { type EventLogger, type Upstream, UpstreamError } from "./types.ts";

export interface PoolBuildDeps {
  /** The tenant, in messages. */
  tenant: string;
  log: EventLogger;
  now(): number;
  random(): number;
  newRequestId(): string;
  fetch?: typeof fetch;
  env?: Record<string, string | undefined>;
  keyFiles?: KeyFiles;
  /** Key files are re-read this often without a change event (default 30 s). */
  keyPollMs?: number;
  /** The AWS credential chain for a Bedrock member (default: the standard chain, its `awsProfile`). */
  credentials?: (member: BedrockUpstreamConfig) => Promise<CredentialProvider>;
}

export async function buildPool(config: PoolConfig, deps: PoolBuildDeps): Promise<Pool> {
  const opened: Upstream[] = [];
  try {
    for (const member of config.upstreams) opened.push(await buildMember(member, deps));
  } catch (e) {
    for (const u of opened) u.close?.();
    throw e;
  }
  return new Pool(
    opened.map((upstream, i) => ({ upstream, weight: (config.upstreams[i] as UpstreamConfig).weight })),
    config.routing,
    { now: deps.now, random: deps.random, newRequestId: deps.newRequestId, log: deps.log },
  );
}

async function buildMember(member: UpstreamConfig, deps: PoolBuildDeps): Promise<Upstream> {
  const log: EventLogger = (level, message, fields) => deps.log(level, message, { tenant: deps.tenant, ...fields });
  if (member.type === "anthropic") {
    const key: KeySource = await openKeySource(member.key, {
      upstream: member.name,
      log,
      ...(deps.keyFiles ? { files: deps.keyFiles } : {}),
      ...(deps.keyPollMs !== undefined ? { pollMs: deps.keyPollMs } : {}),
      ...(deps.env ? { env: deps.env } : {}),
    });
    return new AnthropicUpstream({ name: member.name, url: member.url, key, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
  }
  const provider = await (deps.credentials ?? ((m) => defaultCredentialProvider(m.awsProfile)))(member);
  return new BedrockUpstream({
    name: member.name,
    region: member.region,
    endpoint: member.endpoint,
    models: new BedrockModelMap(DEFAULT_BEDROCK_MODELS, member.region, member.inferenceProfile, member.models),
    betas: new Set(member.betas ?? DEFAULT_BEDROCK_MODELS.betas),
    credentials: new CredentialCache(provider, { upstream: member.name, now: deps.now, log }),
    now: deps.now,
    newRequestId: deps.newRequestId,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
}

/**
 * The same pool built at once, for members whose key is already at hand (given in the
 * configuration, or an environment variable): in-process gateways (the local tenant, tests)
 * whose start stays synchronous. A key file or a Bedrock member needs {@link buildPool}.
 */
export function buildPoolNow(config: PoolConfig, deps: PoolBuildDeps): Pool {
  const env = deps.env ?? process.env;
  const members = config.upstreams.map((member) => {
    if (member.type !== "anthropic" || member.key.kind === "file") {
      throw new UpstreamError("config", `tenant ${deps.tenant}: upstream ${member.name} needs its key file or AWS credentials opened first (buildPool)`);
    }
    const key = member.key.kind === "inline" ? member.key.value : env[member.key.name];
    if (!key) throw new UpstreamError("key_source", `tenant ${deps.tenant}: upstream ${member.name}: the environment variable ${member.key.kind === "env" ? member.key.name : ""} is not set`);
    const upstream = new AnthropicUpstream({ name: member.name, url: member.url, key: new StaticKeySource(key), ...(deps.fetch ? { fetch: deps.fetch } : {}) });
    return { upstream, weight: member.weight };
  });
  return new Pool(members, config.routing, { now: deps.now, random: deps.random, newRequestId: deps.newRequestId, log: deps.log });
}
