/**
 * The real adaptor of `exec`'s ChildRunner: spawns the command with stdio inherited and applies
 * surfaces/exec-policy.ts (signals forwarded or ignored while it runs, its end as our exit code).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { constants } from "node:os";
import { exitCodeFor, FORWARDED_SIGNALS, IGNORED_WHILE_CHILD_RUNS, spawnFailureExitCode } from "../../surfaces/exec-policy.ts";
import type { ChildRunner } from "./child.ts";

const SIGNAL_NUMBERS = constants.signals as unknown as Record<string, number>;

export const spawnChild: ChildRunner = (command, args, env) =>
  new Promise((resolve) => {
    // The handlers go in BEFORE the child exists: a SIGTERM that arrives while it starts (measured
    // under load: between spawn and the next line) must not kill us by default and orphan it.
    // What arrives before the child exists is delivered to it as soon as it does.
    let child: ChildProcess | undefined;
    const early: NodeJS.Signals[] = [];
    // Ctrl-C / Ctrl-\ reach the child from the terminal: the default handlers (ours would exit
    // 130 at once) step aside until it ends.
    const saved = IGNORED_WHILE_CHILD_RUNS.map((s) => [s, process.listeners(s)] as const);
    const ignore = () => {};
    for (const [signal] of saved) {
      process.removeAllListeners(signal);
      process.on(signal, ignore);
    }
    const forward = (signal: NodeJS.Signals) => () => void (child ? child.kill(signal) : early.push(signal));
    const forwarders = FORWARDED_SIGNALS.map((s) => [s, forward(s)] as const);
    for (const [signal, handler] of forwarders) process.on(signal, handler);
    const restore = () => {
      for (const [signal, handler] of forwarders) process.off(signal, handler);
      for (const [signal, listeners] of saved) {
        process.off(signal, ignore);
        for (const l of listeners) process.on(signal, l as () => void);
      }
    };
    child = spawn(command, args, { stdio: "inherit", env });
    for (const signal of early) child.kill(signal);
    child.once("error", (e: NodeJS.ErrnoException) => {
      restore();
      resolve({ kind: "spawn-failed", errorCode: e.code, exitCode: spawnFailureExitCode(e.code) });
    });
    child.once("exit", (code, signal) => {
      restore();
      resolve({ kind: "exited", exitCode: exitCodeFor(code, signal, SIGNAL_NUMBERS) });
    });
  });
