/** How `exec` runs its child (child-runner.ts in the real process; a fake in the unit tests). */
export type ChildEnd = { kind: "exited"; exitCode: number } | { kind: "spawn-failed"; errorCode: string | undefined; exitCode: number };

/** Runs a command to its end with stdio inherited, forwarding signals (child-runner.ts). */
export type ChildRunner = (command: string, args: string[], env: Record<string, string>) => Promise<ChildEnd>;
