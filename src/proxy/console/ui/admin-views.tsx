/** The settings views: budgets and limits, the audit log, revocations; and the pages of someone not let in. */
import { useState } from "preact/hooks";
import { type AuditPage, type BudgetsAndLimits, type BudgetView, CONSOLE_LOGIN, type ConsoleErrorBody, type LimitView, type RevocationView } from "../../../shared/console-api.ts";
import { getJson, send } from "./api.ts";
import { BudgetForm, BurnBar, DataTable, Notice, Pager } from "./components.tsx";
import { amount, dateTime, int } from "./format.ts";
import { useAction, useLoad } from "./hooks.ts";
import type { ViewProps } from "./views.tsx";

const subjectQuery = (s: { kind: string; id: string }) => ({ kind: s.kind, id: s.id });

export function BudgetsView(props: ViewProps) {
  const { data, error, reload } = useLoad(() => getJson<BudgetsAndLimits>("budgets"), [props.tick]);
  const { message, run } = useAction(reload);
  const clearBudget = (b: BudgetView) =>
    run(
      () => send<{ cleared: number }>("DELETE", "budgets", undefined, new URLSearchParams({ ...subjectQuery(b.subject), period: b.period, unit: b.unit }).toString()),
      ({ cleared }) => `Cleared ${cleared} budget${cleared === 1 ? "" : "s"} of ${b.subject.label}.`,
    );
  const clearLimit = (l: LimitView) => run(() => send("DELETE", "limits", undefined, new URLSearchParams(subjectQuery(l.subject)).toString()), `Cleared the rate limit of ${l.subject.label}.`);
  return (
    <section aria-labelledby="view-title">
      <h2 id="view-title">Budgets and limits</h2>
      {error && <Notice kind="error">Could not load: {error}</Notice>}
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      {data && (
        <>
          <DataTable<BudgetView>
            caption="Budgets (used: settled spend in the current period)"
            testid="budgets-table"
            rows={data.budgets}
            rowKey={(b) => `${b.source}:${b.subject.kind}:${b.subject.id}:${b.period}:${b.unit}`}
            rowTestId={(b) => `budget-row-${b.subject.kind}-${b.subject.id}-${b.period}-${b.unit}`}
            empty="No budget is set."
            columns={[
              { label: "Applies to", cell: (b) => `${b.subject.kind === "tenant" ? "" : `${b.subject.kind}: `}${b.subject.label}` },
              { label: "Limit", numeric: true, testid: "limit", value: (b) => String(b.unit === "usd" ? b.limit / 1e6 : b.limit), cell: (b) => `${amount(b.unit, b.limit)} / ${b.period}${b.soft ? " (soft)" : ""}` },
              { label: "Used", numeric: true, cell: (b) => amount(b.unit, b.used) },
              { label: "Burn", cell: (b) => <BurnBar burn={{ period: b.period, unit: b.unit, limit: b.limit, used: b.used, fraction: b.fraction, soft: b.soft }} label={b.subject.label} /> },
              { label: "Resets", cell: (b) => dateTime(b.resets_at) },
              { label: "Source", cell: (b) => (b.source === "policy" ? "policy file (read-only)" : "admin API") },
              {
                label: "Action",
                cell: (b) =>
                  b.source === "api" ? (
                    <button type="button" onClick={() => clearBudget(b)} aria-label={`Clear the ${b.period} ${b.unit} budget of ${b.subject.label}`}>
                      Clear
                    </button>
                  ) : (
                    <span class="muted">edit the policy file</span>
                  ),
              },
            ]}
          />
          <h3>Set a budget</h3>
          <BudgetForm onDone={reload} />
          <DataTable<LimitView>
            caption="Rate limits"
            rows={data.limits}
            rowKey={(l) => `${l.source}:${l.subject.kind}:${l.subject.id}`}
            empty="No stored rate limit (the gateway's defaults apply)."
            columns={[
              { label: "Applies to", cell: (l) => `${l.subject.kind === "tenant" ? "" : `${l.subject.kind}: `}${l.subject.label}` },
              { label: "Requests per minute", numeric: true, cell: (l) => (l.rpm === null ? "\u2014" : int(l.rpm)) },
              { label: "Tokens per minute", numeric: true, cell: (l) => (l.tpm === null ? "\u2014" : int(l.tpm)) },
              { label: "Source", cell: (l) => (l.source === "policy" ? "policy file (read-only)" : "admin API") },
              {
                label: "Action",
                cell: (l) =>
                  l.source === "api" ? (
                    <button type="button" onClick={() => clearLimit(l)} aria-label={`Clear the rate limit of ${l.subject.label}`}>
                      Clear
                    </button>
                  ) : (
                    <span class="muted">edit the policy file</span>
                  ),
              },
            ]}
          />
          <h3>Set a rate limit</h3>
          <LimitForm onDone={reload} />
        </>
      )}
    </section>
  );
}

function LimitForm(props: { onDone: () => void }) {
  const [kind, setKind] = useState<"user" | "group" | "tenant">("user");
  const [id, setId] = useState("");
  const [rpm, setRpm] = useState("");
  const [tpm, setTpm] = useState("");
  const { message, run } = useAction(props.onDone);
  const submit = (e: Event) => {
    e.preventDefault();
    return run(() => send("PUT", "limits", { kind, id: kind === "tenant" ? "*" : id, rpm: rpm || null, tpm: tpm || null }), "Rate limit set.");
  };
  return (
    <form class="setting-form" onSubmit={submit} aria-label="Set a rate limit">
      <label>
        Applies to
        <select value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as typeof kind)}>
          <option value="user">A person</option>
          <option value="group">A group</option>
          <option value="tenant">The tenant</option>
        </select>
      </label>
      {kind !== "tenant" && (
        <label>
          {kind === "user" ? "Person (username, email or sub)" : "Group"}
          <input value={id} required maxLength={256} onInput={(e) => setId((e.currentTarget as HTMLInputElement).value)} />
        </label>
      )}
      <label>
        Requests per minute
        <input type="number" min="1" step="1" value={rpm} onInput={(e) => setRpm((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <label>
        Tokens per minute
        <input type="number" min="1" step="1" value={tpm} onInput={(e) => setTpm((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <button type="submit">Set limit</button>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </form>
  );
}

export function AuditView(props: ViewProps) {
  const [offset, setOffset] = useState(0);
  const search = new URLSearchParams({ from: props.range.from, to: props.range.to, offset: String(offset), limit: "100" }).toString();
  const { data, error } = useLoad(() => getJson<AuditPage>("audit", search), [search, props.tick]);
  return (
    <section aria-labelledby="view-title">
      <h2 id="view-title">Audit log</h2>
      {error && <Notice kind="error">Could not load: {error}</Notice>}
      {data && !data.available && <p class="muted">This gateway does not keep an audit log yet.</p>}
      {data?.available && (
        <>
          <DataTable
            caption={`Changes from ${data.range.from} to ${data.range.to}`}
            rows={data.entries}
            rowKey={(e) => `${e.time}:${e.action}:${e.target}`}
            empty="No change in this range."
            columns={[
              { label: "Time", cell: (e) => dateTime(e.time) },
              { label: "Who", cell: (e) => e.actor },
              { label: "Action", cell: (e) => e.action },
              { label: "Target", cell: (e) => e.target },
              { label: "Detail", cell: (e) => e.detail },
            ]}
          />
          <Pager offset={data.offset} limit={data.limit} total={data.total} onPage={setOffset} label="Audit log" />
        </>
      )}
    </section>
  );
}

export function RevocationsView(props: ViewProps) {
  const { data, error, reload } = useLoad(() => getJson<{ revocations: RevocationView[] }>("revocations"), [props.tick]);
  const [value, setValue] = useState("");
  const [target, setTarget] = useState<"user" | "session">("user");
  const [reason, setReason] = useState("");
  const { message, run } = useAction(reload);
  return (
    <section aria-labelledby="view-title">
      <h2 id="view-title">Revocations</h2>
      {error && <Notice kind="error">Could not load: {error}</Notice>}
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
      <form
        class="setting-form"
        aria-label="Revoke access"
        onSubmit={(e) => {
          e.preventDefault();
          void run(() => send("POST", "revocations", { [target]: value, ...(reason ? { reason } : {}) }), `Revoked ${value}.`);
        }}
      >
        <label>
          Revoke
          <select value={target} onChange={(e) => setTarget((e.currentTarget as HTMLSelectElement).value as typeof target)}>
            <option value="user">A person (username, email or sub)</option>
            <option value="session">One sign-in (session id)</option>
          </select>
        </label>
        <label>
          {target === "user" ? "Person" : "Session id"}
          <input value={value} required maxLength={256} onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <label>
          Reason
          <input value={reason} maxLength={500} onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="danger">
          Revoke
        </button>
      </form>
      {data && (
        <DataTable<RevocationView>
          caption="Revocations in force"
          testid="revocations-table"
          rows={data.revocations}
          rowKey={(r) => `${r.kind}:${r.value}`}
          empty="Nobody is revoked."
          columns={[
            { label: "Who", cell: (r) => r.label },
            { label: "By identifier", cell: (r) => `${r.kind} ${r.value}` },
            { label: "Since", cell: (r) => dateTime(r.at) },
            { label: "Until", cell: (r) => dateTime(r.until) },
            { label: "By", cell: (r) => r.by ?? "\u2014" },
            { label: "Reason", cell: (r) => r.reason ?? "\u2014" },
            {
              label: "Action",
              cell: (r) => (
                <button type="button" aria-label={`Restore ${r.label} (${r.kind})`} onClick={() => run(() => send("DELETE", "revocations", undefined, new URLSearchParams({ kind: r.kind, value: r.value }).toString()), `Restored ${r.label}.`)}>
                  Restore
                </button>
              ),
            },
          ]}
        />
      )}
    </section>
  );
}

export function Forbidden(props: { body: ConsoleErrorBody; onSignOut: () => void }) {
  const groups = props.body.needed_groups ?? [];
  return (
    <main id="main" class="standalone" data-testid="forbidden">
      <h1>No access to the console</h1>
      <p>
        You are signed in as <strong>{props.body.user?.name ?? "someone"}</strong>, who is not a member of {groups.length === 0 ? "an admin group (this tenant has none configured)" : groups.length === 1 ? "the group " : "one of the groups "}
        {groups.map((g, i) => (
          <span key={g}>
            {i > 0 && ", "}
            <code>{g}</code>
          </span>
        ))}
        .
      </p>
      <p>Ask an administrator of your company's identity provider to add you to it, then sign in again.</p>
      <button type="button" onClick={props.onSignOut}>
        Sign out
      </button>
    </main>
  );
}

export function SignedOut(props: { message?: string }) {
  return (
    <main id="main" class="standalone" data-testid="signed-out">
      <h1>Agent runner console</h1>
      {props.message && <p>{props.message}</p>}
      <p>Sign in with your company account to see usage, costs and budgets.</p>
      <a class="button primary" href={`${CONSOLE_LOGIN}${location.hash ? `?return=${encodeURIComponent(location.hash)}` : ""}`}>
        Sign in
      </a>
    </main>
  );
}
