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
import { type KeyFiles, type KeySource, openKeySource } from "./key-source.ts";
import { Pool } from "./pool.ts";
import type { EventLogger, Upstream } from "./types.ts";

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
