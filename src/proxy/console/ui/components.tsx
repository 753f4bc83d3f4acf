/** The console's building blocks: the range picker, sortable tables, budget burn bars, figure cards, the budget form. */
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import {
  type Burn, checkRange, ConsoleInputError, type DayRange, MAX_RANGE_DAYS, PRESET_LABELS, presetRange, RANGE_PRESETS, type RangePreset, type SortColumn, type SortDir,
} from "../../../shared/console-api.ts";
import { send } from "./api.ts";
import { amount, percent } from "./format.ts";
import { useAction } from "./hooks.ts";

export interface RangeChoice {
  preset: RangePreset;
  range: DayRange;
}

export function RangePicker(props: { today: string; value: RangeChoice; onChange: (c: RangeChoice) => void }) {
  const [from, setFrom] = useState(props.value.range.from);
  const [to, setTo] = useState(props.value.range.to);
  const [error, setError] = useState("");
  const choose = (preset: RangePreset) => {
    setError("");
    if (preset === "custom") props.onChange({ preset, range: props.value.range });
    else props.onChange({ preset, range: presetRange(preset, props.today) });
  };
  const apply = (e: Event) => {
    e.preventDefault();
    try {
      props.onChange({ preset: "custom", range: checkRange({ from, to }) });
      setError("");
    } catch (err) {
      setError(err instanceof ConsoleInputError ? err.message : String(err));
    }
  };
  return (
    <div class="range">
      <label>
        Date range
        <select value={props.value.preset} onChange={(e) => choose((e.currentTarget as HTMLSelectElement).value as RangePreset)}>
          {RANGE_PRESETS.map((p) => (
            <option value={p} key={p}>
              {PRESET_LABELS[p]}
            </option>
          ))}
        </select>
      </label>
      {props.value.preset === "custom" && (
        <form class="custom-range" onSubmit={apply}>
          <label>
            From
            <input type="date" value={from} max={props.today} required onInput={(e) => setFrom((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <label>
            To
            <input type="date" value={to} max={props.today} required onInput={(e) => setTo((e.currentTarget as HTMLInputElement).value)} />
          </label>
          <button type="submit">Apply</button>
          <span class="hint">up to {MAX_RANGE_DAYS} days</span>
          {error && (
            <span class="error" role="alert">
              {error}
            </span>
          )}
        </form>
      )}
    </div>
  );
}

export function BurnBar(props: { burn: Burn | null; label?: string }) {
  const b = props.burn;
  if (!b) return <span class="muted">none</span>;
  const shown = Math.min(1, Number.isFinite(b.fraction) ? b.fraction : 1);
  const level = b.fraction >= 1 ? "over" : b.fraction >= 0.8 ? "high" : "ok";
  const text = `${percent(b.fraction)} of ${amount(b.unit, b.limit)} ${b.period === "day" ? "daily" : "monthly"}${b.soft ? " (soft)" : ""}`;
  return (
    <span class="burn" title={text}>
      <span class="burn-track" role="img" aria-label={`${props.label ? `${props.label}: ` : ""}${text}`}>
        <span class={`burn-fill ${level}`} style={{ width: `${(shown * 100).toFixed(1)}%` }} />
      </span>
      <span class="burn-text">{percent(b.fraction)}</span>
    </span>
  );
}

export function Card(props: { title: string; value: string; detail?: string; testid?: string }) {
  return (
    <section class="card" aria-label={props.title} data-testid={props.testid}>
      <h3>{props.title}</h3>
      <p class="card-value">{props.value}</p>
      {props.detail && <p class="card-detail">{props.detail}</p>}
    </section>
  );
}

export interface Column<Row> {
  label: string;
  /** The API's sort key, when the column sorts. */
  sort?: SortColumn;
  numeric?: boolean;
  cell: (row: Row) => ComponentChildren;
  /** data-testid of the cell, and its machine value. */
  testid?: string;
  value?: (row: Row) => string;
}

export function DataTable<Row>(props: {
  caption: string;
  columns: Column<Row>[];
  rows: Row[];
  rowKey: (row: Row) => string;
  rowTestId?: (row: Row) => string;
  sort?: SortColumn;
  dir?: SortDir;
  onSort?: (sort: SortColumn, dir: SortDir) => void;
  testid?: string;
  empty?: string;
}) {
  return (
    <div class="table-wrap">
      <table data-testid={props.testid}>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => {
              const active = c.sort !== undefined && c.sort === props.sort;
              const ariaSort = active ? (props.dir === "asc" ? "ascending" : "descending") : undefined;
              return (
                <th scope="col" key={c.label} class={c.numeric ? "num" : undefined} aria-sort={ariaSort}>
                  {c.sort && props.onSort ? (
                    <button type="button" class="sort" onClick={() => props.onSort?.(c.sort as SortColumn, active && props.dir === "desc" ? "asc" : active ? "desc" : c.sort === "name" ? "asc" : "desc")}>
                      {c.label}
                      <span aria-hidden="true">{active ? (props.dir === "asc" ? " \u25B2" : " \u25BC") : ""}</span>
                    </button>
                  ) : (
                    c.label
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {props.rows.length === 0 ? (
            <tr>
              <td colSpan={props.columns.length} class="muted">
                {props.empty ?? "Nothing in this range."}
              </td>
            </tr>
          ) : (
            props.rows.map((row) => (
              <tr key={props.rowKey(row)} data-testid={props.rowTestId?.(row)}>
                {props.columns.map((c, i) =>
                  i === 0 ? (
                    <th scope="row" key={c.label} data-testid={c.testid} data-value={c.value?.(row)}>
                      {c.cell(row)}
                    </th>
                  ) : (
                    <td key={c.label} class={c.numeric ? "num" : undefined} data-testid={c.testid} data-value={c.value?.(row)}>
                      {c.cell(row)}
                    </td>
                  ),
                )}
              </tr>
            ))
          )}
        </tbody>
      </table>
    </div>
  );
}

export function Pager(props: { offset: number; limit: number; total: number; onPage: (offset: number) => void; label: string }) {
  if (props.total <= props.limit && props.offset === 0) return null;
  const last = Math.min(props.total, props.offset + props.limit);
  return (
    <nav class="pager" aria-label={`${props.label} pages`}>
      <button type="button" disabled={props.offset === 0} onClick={() => props.onPage(Math.max(0, props.offset - props.limit))}>
        Previous
      </button>
      <span>{`${props.offset + 1}\u2013${last} of ${props.total}`}</span>
      <button type="button" disabled={last >= props.total} onClick={() => props.onPage(props.offset + props.limit)}>
        Next
      </button>
    </nav>
  );
}

export function Notice(props: { kind: "error" | "ok"; children: ComponentChildren }) {
  return (
    <p class={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </p>
  );
}

/** Sets a budget (admin API budgets: the policy file's are read-only). */
export function BudgetForm(props: { user?: string; onDone: () => void }) {
  const [kind, setKind] = useState<"user" | "group" | "tenant">("user");
  const [id, setId] = useState(props.user ?? "");
  const [period, setPeriod] = useState<"day" | "month">("month");
  const [unit, setUnit] = useState<"usd" | "tokens">("usd");
  const [value, setValue] = useState("");
  const [soft, setSoft] = useState(false);
  const { message, run } = useAction(props.onDone);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    await run(() => send("PUT", "budgets", { kind, id: kind === "tenant" ? "*" : id, period, unit, amount: Number(value), soft }), `Budget set: ${kind === "tenant" ? "the tenant" : id}, ${value} ${unit === "usd" ? "USD" : "tokens"} per ${period}.`);
    setBusy(false);
  };
  return (
    <form class="setting-form" data-testid="budget-form" onSubmit={submit} aria-label="Set a budget">
      <label>
        Applies to
        <select value={kind} onChange={(e) => setKind((e.currentTarget as HTMLSelectElement).value as typeof kind)}>
          <option value="user">A person</option>
          <option value="group">A group</option>
          <option value="tenant">Everyone</option>
        </select>
      </label>
      {kind !== "tenant" && (
        <label>
          {kind === "user" ? "Person (username, email or sub)" : "Group"}
          <input data-testid="budget-user" value={id} required maxLength={256} onInput={(e) => setId((e.currentTarget as HTMLInputElement).value)} />
        </label>
      )}
      <label>
        Period
        <select data-testid="budget-period" value={period} onChange={(e) => setPeriod((e.currentTarget as HTMLSelectElement).value as typeof period)}>
          <option value="day">Day</option>
          <option value="month">Month</option>
        </select>
      </label>
      <label>
        Unit
        <select value={unit} onChange={(e) => setUnit((e.currentTarget as HTMLSelectElement).value as typeof unit)}>
          <option value="usd">USD</option>
          <option value="tokens">Tokens</option>
        </select>
      </label>
      <label>
        {unit === "usd" ? "Amount (USD)" : "Amount (tokens)"}
        <input data-testid="budget-usd" type="number" min="0" step={unit === "usd" ? "0.01" : "1"} required value={value} onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked={soft} onChange={(e) => setSoft((e.currentTarget as HTMLInputElement).checked)} />
        Soft (warn, never refuse)
      </label>
      <button type="submit" data-testid="budget-submit" disabled={busy}>
        Set budget
      </button>
      {message && <Notice kind={message.kind}>{message.text}</Notice>}
    </form>
  );
}
