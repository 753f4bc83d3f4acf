/**
 * Metrics and log lines for the spool (wired by http/server.ts): `proxy_state_spooled_total{kind}`,
 * `proxy_state_replayed_total`, `proxy_state_spool_skipped_total{reason}`, the gauge
 * `proxy_state_spool_depth` (read at scrape time), one log line when spooling starts and one when
 * the spool has drained, and one for each file taken over from a process that is gone.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import { logEvent } from "../telemetry/log.ts";
import type { ResilienceHooks } from "./resilient.ts";
import type { SpoolHooks } from "./spool.ts";

export function observeSpool(registry: Registry, depth: () => number): { resilience: ResilienceHooks; spool: SpoolHooks } {
  const spooled = new Counter({ name: "proxy_state_spooled_total", help: "Writes the state store could not take, kept in the local spool, by kind", labelNames: ["kind"], registers: [registry] });
  const replayed = new Counter({ name: "proxy_state_replayed_total", help: "Spooled writes applied to the state store", registers: [registry] });
  const skipped = new Counter({ name: "proxy_state_spool_skipped_total", help: "Spool lines not replayed: torn (cut by a crash), corrupt, rejected (refused by the store), lost (the spool could not keep a write)", labelNames: ["reason"], registers: [registry] });
  new Gauge({
    name: "proxy_state_spool_depth",
    help: "Writes in this process's spool waiting for the state store",
    registers: [registry],
    collect() {
      this.set(depth());
    },
  });
  return {
    resilience: {
      spooled: (e) => {
        spooled.inc({ kind: e.kind });
        if (e.first) logEvent("error", "state store write failed: spooling usage to the local spool until the store answers again", { kind: e.kind });
      },
      replayed: (e) => {
        replayed.inc(e.count);
        if (e.drained) logEvent("info", `spool drained: ${e.count} spooled writes replayed into the state store`, { replayed: e.count });
      },
      replayRejected: (e) => {
        skipped.inc({ reason: "rejected" });
        logEvent("error", `a spooled ${e.kind} was refused by the state store and skipped: ${e.error.message}`);
      },
      spoolFailed: (e) => {
        skipped.inc({ reason: "lost" });
        logEvent("error", `the spool could not keep a ${e.kind} either: ${e.error.message}; its figures are in the request's log line`);
      },
    },
    spool: {
      skipped: (e) => {
        skipped.inc({ reason: e.reason });
        logEvent("warn", `spool ${e.file} line ${e.line} is ${e.reason === "torn" ? "cut short (a crash while writing it)" : "not a write"}: skipped`, { file: e.file, line: e.line, reason: e.reason });
      },
      claimed: (e) => logEvent("info", `spool ${e.from} of a process that is gone taken over for replay`, { file: e.file }),
    },
  };
}
