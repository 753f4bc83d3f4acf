import { describe, expect, test } from "bun:test";
import { readProxyOptions } from "./options.ts";
import { extractWorkersFlag, mergeExpositions, parseWorkerCount, planWorkers, RestartPolicy, WorkersError } from "./workers.ts";

describe("--workers", () => {
  test("auto or absent: three workers per four cores, at least one (one on a 2-core host); bad values are refused with the flag named", () => {
    expect(parseWorkerCount(undefined, 8)).toBe(6);
    expect(parseWorkerCount("auto", 2)).toBe(1);
    expect(parseWorkerCount(undefined, 1)).toBe(1);
    expect(parseWorkerCount(undefined, 4)).toBe(3);
    expect(parseWorkerCount("3", 2)).toBe(3);
    for (const bad of ["0", "-1", "1.5", "many", "257", ""]) expect(() => parseWorkerCount(bad, 2)).toThrow(WorkersError);
    expect(() => parseWorkerCount("x", 2)).toThrow("--workers must be a whole number from 1 to 256");
  });

  test("the flag is taken out of the server's arguments in both spellings", () => {
    expect(extractWorkersFlag(["--port", "1", "--workers", "4", "--x"])).toEqual({ value: "4", rest: ["--port", "1", "--x"] });
    expect(extractWorkersFlag(["--workers=2"])).toEqual({ value: "2", rest: [] });
    expect(extractWorkersFlag(["--issuer", "i"])).toEqual({ value: undefined, rest: ["--issuer", "i"] });
  });
});

describe("planWorkers", () => {
  // a valid single tenant, from the environment alone
  const TENANT = { AGENT_RUNNER_PROXY_ISSUER: "https://idp.example.com/pool", AGENT_RUNNER_PROXY_CLIENT_IDS: "c", AGENT_RUNNER_PROXY_UPSTREAM_KEY_ENV: "KEY", KEY: "sk-test" };
  const plan = (args: string[], env: NodeJS.ProcessEnv = {}) => planWorkers(readProxyOptions(args, { ...TENANT, ...env }), args);

  test("port, host, metrics and state are removed (set per worker); the rest is passed on; flags win over the environment", () => {
    const args = ["--issuer", "https://i", "--port=8081", "--host", "127.0.0.1", "--metrics-port", "9500", "--state", "redis://r:6379/0", "--client-id", "c", "--shutdown-grace", "7", "--reuse-port"];
    expect(plan(args, { PORT: "9999", AGENT_RUNNER_PROXY_METRICS_HOST: "0.0.0.0" })).toEqual({ args: ["--issuer", "https://i", "--client-id", "c", "--shutdown-grace", "7"], host: "127.0.0.1", port: 8081, metrics: { host: "0.0.0.0", port: 9500 }, state: "redis://r:6379/0", graceMs: 7000, console: false });
  });

  test("defaults: 0.0.0.0:8080, metrics on 127.0.0.1:9464, no state (a shared temporary file), 30 s grace; metrics off", () => {
    expect(plan([])).toEqual({ args: [], host: "0.0.0.0", port: 8080, metrics: { host: "127.0.0.1", port: 9464 }, state: null, graceMs: 30_000, console: false });
    expect(plan(["--metrics-port", "off"]).metrics).toBeNull();
    expect(plan([], { AGENT_RUNNER_PROXY_METRICS_PORT: "0" }).metrics).toBeNull();
  });

  test("every listen address can come from the environment alone (a replica per host, no flags): host, port, metrics, state", () => {
    const env = { AGENT_RUNNER_PROXY_HOST: "127.0.0.1", PORT: "8082", AGENT_RUNNER_PROXY_METRICS_PORT: "9465", AGENT_RUNNER_PROXY_STATE: "redis://r:6379/0" };
    expect(plan([], env)).toEqual({ args: [], host: "127.0.0.1", port: 8082, metrics: { host: "127.0.0.1", port: 9465 }, state: "redis://r:6379/0", graceMs: 30_000, console: false });
    expect(plan(["--host", "::1"], env).host).toBe("::1");
  });

  test("an in-memory state would not be shared by the workers: refused", () => {
    expect(() => plan(["--state", "sqlite::memory:"])).toThrow("would give each worker its own budgets and limits");
  });
});

describe("mergeExpositions", () => {
  const worker = (n: number) =>
    [
      "# HELP proxy_requests_total Requests",
      "# TYPE proxy_requests_total counter",
      `proxy_requests_total{tenant="a",route="messages",status="200"} ${n}`,
      "",
      "# HELP proxy_requests_in_flight In flight",
      "# TYPE proxy_requests_in_flight gauge",
      `proxy_requests_in_flight ${n - 1}`,
      "# HELP d Duration",
      "# TYPE d histogram",
      `d_bucket{le="0.1",tenant="a"} ${n}`,
      `d_bucket{le="+Inf",tenant="a"} ${n}`,
      `d_sum{tenant="a"} 0.5`,
      `d_count{tenant="a"} ${n}`,
      "",
    ].join("\n");

  test("each family once, every worker's samples labelled, in family order", () => {
    expect(mergeExpositions([{ worker: 0, text: worker(3) }, { worker: 1, text: worker(5) }])).toBe(
      [
        "# HELP proxy_requests_total Requests",
        "# TYPE proxy_requests_total counter",
        'proxy_requests_total{worker="0",tenant="a",route="messages",status="200"} 3',
        'proxy_requests_total{worker="1",tenant="a",route="messages",status="200"} 5',
        "# HELP proxy_requests_in_flight In flight",
        "# TYPE proxy_requests_in_flight gauge",
        'proxy_requests_in_flight{worker="0"} 2',
        'proxy_requests_in_flight{worker="1"} 4',
        "# HELP d Duration",
        "# TYPE d histogram",
        'd_bucket{worker="0",le="0.1",tenant="a"} 3',
        'd_bucket{worker="0",le="+Inf",tenant="a"} 3',
        'd_sum{worker="0",tenant="a"} 0.5',
        'd_count{worker="0",tenant="a"} 3',
        'd_bucket{worker="1",le="0.1",tenant="a"} 5',
        'd_bucket{worker="1",le="+Inf",tenant="a"} 5',
        'd_sum{worker="1",tenant="a"} 0.5',
        'd_count{worker="1",tenant="a"} 5',
        "",
      ].join("\n"),
    );
  });

  test("a worker that could not be read adds nothing; empty label sets stay valid", () => {
    expect(mergeExpositions([{ worker: 0, text: "" }, { worker: 1, text: "# TYPE x gauge\nx{} 1\n" }])).toBe('# TYPE x gauge\nx{worker="1"} 1\n');
  });
});

describe("RestartPolicy", () => {
  test("doubling backoff for a worker that dies young, reset once it lived; a crash loop gives up", () => {
    const p = new RestartPolicy({ healthyAfterMs: 10_000, firstDelayMs: 250, maxDelayMs: 1000, maxQuickFailures: 4 });
    expect(p.onExit(0, 50)).toEqual({ restart: true, delayMs: 250 });
    expect(p.onExit(0, 50)).toEqual({ restart: true, delayMs: 500 });
    expect(p.onExit(1, 50)).toEqual({ restart: true, delayMs: 250 }); // per worker
    expect(p.onExit(0, 50)).toEqual({ restart: true, delayMs: 1000 });
    expect(p.onExit(0, 60_000)).toEqual({ restart: true, delayMs: 250 }); // it had been healthy
    expect(p.onExit(0, 10)).toEqual({ restart: true, delayMs: 500 });
    expect(p.onExit(0, 10)).toEqual({ restart: true, delayMs: 1000 });
    expect(p.onExit(0, 10)).toEqual({ restart: true, delayMs: 1000 });
    expect(p.onExit(0, 10)).toEqual({ restart: false });
  });
});
