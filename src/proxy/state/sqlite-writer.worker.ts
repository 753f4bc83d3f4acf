/**
 * The thread that commits a SQLite file's usage writes (sqlite-writer.ts): its own connection,
 * one transaction per batch, in the order the batches arrive. Errors go back typed, by code.
 */
import { SqliteState } from "./sqlite.ts";
import { StateError, type UsageWrite } from "./types.ts";
import type { WriterReply, WriterRequest } from "./sqlite-writer.ts";

declare const self: Worker;

let state: SqliteState | undefined;
let opening: { path: string; busyTimeoutMs: number; rollupUpkeep: boolean } | undefined;

function open(): SqliteState {
  if (!opening) throw new StateError("STATE_UNAVAILABLE", "the writer thread was not told which database to open");
  state ??= new SqliteState(opening.path, { usageWrites: "inline", busyTimeoutMs: opening.busyTimeoutMs, rollupUpkeep: opening.rollupUpkeep });
  return state;
}

const reply = (message: WriterReply) => self.postMessage(message);

self.onmessage = async (event: MessageEvent<WriterRequest>) => {
  const message = event.data;
  if (message.type === "open") {
    opening = { path: message.path, busyTimeoutMs: message.busyTimeoutMs, rollupUpkeep: message.rollupUpkeep };
    return;
  }
  if (message.type === "close") {
    await state?.close();
    state = undefined;
    return reply({ type: "closed" });
  }
  try {
    // opened at the first write (a failure is that write's, and the next one tries again);
    // synchronous inside: batches commit in the order they were sent
    await open().writeUsage(JSON.parse(message.writes) as UsageWrite[]);
    reply({ type: "done", id: message.id });
  } catch (e) {
    const error = e instanceof StateError ? e : new StateError("STATE_CORRUPT", `state database: ${(e as Error).message}`);
    reply({ type: "done", id: message.id, error: { code: error.code, message: error.message } });
  }
};
