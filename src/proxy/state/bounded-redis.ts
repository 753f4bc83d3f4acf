/**
 * Redis for the gateway's stores (the state store, state/redis.ts; the usage roll-ups and the
 * console's sessions): Bun's built-in client with the offline queue off (a command while
 * disconnected fails at once), every command bounded in time, scripts by EVALSHA. Each store
 * names its own errors (`RedisErrors`): unreachable / no answer in time, or refused by the server.
 */
import { RedisClient } from "bun";

export type Reply = string | number | null | boolean | Reply[] | { [key: string]: Reply };

export interface RedisErrors {
  /** Unreachable, or no answer within the bound. */
  unavailable(message: string, options?: { cause?: unknown }): Error;
  /** The server refused the command (its reply is the cause). */
  refused(message: string, options: { cause: unknown }): Error;
  /** An error `unavailable` or `refused` made (passed on as it is). */
  isOwn(e: unknown): boolean;
  /** An error `refused` made. */
  isRefused(e: unknown): boolean;
}

export class BoundedRedis {
  private readonly client: RedisClient;
  private readonly shas = new Map<string, string>();
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
    private readonly errors: RedisErrors,
  ) {
    this.client = new RedisClient(url, { enableOfflineQueue: false, connectionTimeout: timeoutMs, autoReconnect: true, maxRetries: 5 });
  }

  private where(): string {
    const u = new URL(this.url);
    return `${u.hostname}:${u.port || 6379}`;
  }

  private ensureConnected(): Promise<void> {
    if (this.client.connected) return Promise.resolve();
    this.connecting ??= this.client.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** One command (commands sent in one tick are pipelined by the client), bounded in time. */
  async send(command: string, args: string[]): Promise<Reply> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.errors.unavailable(`Redis at ${this.where()} is unreachable: no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return (await Promise.race([this.ensureConnected().then(() => this.client.send(command, args)), timeout])) as Reply;
    } catch (e) {
      if (this.errors.isOwn(e)) throw e;
      const code = (e as { code?: string }).code ?? "";
      if (code === "ERR_REDIS_SERVER_ERROR") throw this.errors.refused(`Redis refused ${command}: ${(e as Error).message}`, { cause: e });
      throw this.errors.unavailable(`Redis at ${this.where()} is unreachable (${code || (e as Error).message}); check that it runs and the --state URL`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  }

  /** EVALSHA, loading the script by EVAL once when the server does not have it (NOSCRIPT). */
  async script(source: string, keys: string[], args: (string | number)[]): Promise<Reply> {
    let sha = this.shas.get(source);
    if (!sha) this.shas.set(source, (sha = new Bun.CryptoHasher("sha1").update(source).digest("hex")));
    const rest = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await this.send("EVALSHA", [sha, ...rest]);
    } catch (e) {
      // NOSCRIPT is the protocol's error code (first word of the reply): load it once by EVAL
      const cause = (e as { cause?: Error }).cause;
      if (this.errors.isRefused(e) && cause?.message?.startsWith("NOSCRIPT")) return this.send("EVAL", [source, ...rest]);
      throw e;
    }
  }

  /** HGETALL as a plain object, whichever reply shape the protocol version gives. */
  async hgetall(key: string): Promise<Record<string, string>> {
    const reply = await this.send("HGETALL", [key]);
    if (Array.isArray(reply)) {
      const out: Record<string, string> = {};
      for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = String(reply[i + 1]);
      return out;
    }
    return (reply ?? {}) as Record<string, string>;
  }

  close(): void {
    this.client.close();
  }
}
