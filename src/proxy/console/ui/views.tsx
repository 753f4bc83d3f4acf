/** The usage views: overview, people (and a person), groups, models. */
import { useEffect, useState } from "preact/hooks";
import {
  cacheShare, type DayRange, type Figures, type GroupRow, type ModelRow, type Overview, type PersonDetail, type PersonRow, type SortColumn, type SortDir, type TablePage, tableSearch, usd,
} from "../../../shared/console-api.ts";
import { apiUrl, getJson, send } from "./api.ts";
import { StackedCostChart } from "./chart.tsx";
import { BudgetForm, BurnBar, Card, type Column, DataTable, Notice, Pager } from "./components.tsx";
import { amount, change, compact, dateTime, int, money, percent } from "./format.ts";
import { useAction, useDebounced, useLoad } from "./hooks.ts";

export interface ViewProps {
  range: DayRange;
  /** Moves every 30 s with auto-refresh on: a dependency of every load. */
  tick: number;
  scheme: "light" | "dark";
  today: string;
}

const rangeSearch = (r: DayRange) => new URLSearchParams({ from: r.from, to: r.to }).toString();
const personHref = (sub: string) => `#/people/${encodeURIComponent(sub)}`;
const cacheWrites = (f: Figures) => f.cache_write_5m_tokens + f.cache_write_1h_tokens;

function figureColumns<Row extends Figures>(): Column<Row>[] {
  return [
    { label: "Requests", sort: "requests", numeric: true, testid: "requests", value: (r) => String(r.requests), cell: (r) => int(r.requests) },
    { label: "Input tokens", sort: "input_tokens", numeric: true, cell: (r) => int(r.input_tokens) },
    { label: "Output tokens", sort: "output_tokens", numeric: true, cell: (r) => int(r.output_tokens) },
    { label: "Cache writes", sort: "cache_write_tokens", numeric: true, cell: (r) => <span title={`5-minute ${int(r.cache_write_5m_tokens)}, 1-hour ${int(r.cache_write_1h_tokens)}`}>{int(cacheWrites(r))}</span> },
    { label: "Cache reads", sort: "cache_read_tokens", numeric: true, cell: (r) => int(r.cache_read_tokens) },
    { label: "Cost", sort: "cost_micro_usd", numeric: true, testid: "cost", value: (r) => String(usd(r.cost_micro_usd)), cell: (r) => money(r.cost_micro_usd) },
  ];
}

function LoadError(props: { error: string | undefined }) {
  return props.error ? <Notice kind="error">Could not load: {props.error}</Notice> : null;
}

export function OverviewView(props: ViewProps) {
  const { data, error } = useLoad(() => getJson<Overview>("overview", rangeSearch(props.range)), [props.range.from, props.range.to, props.tick]);
  return (
    <section data-testid="overview" aria-labelledby="view-title">
      <h2 id="view-title">Overview</h2>
      <LoadError error={error} />
      {data && <OverviewBody data={data} scheme={props.scheme} />}
    </section>
  );
}

function OverviewBody(props: { data: Overview; scheme: "light" | "dark" }) {
  const d = props.data;
  const lm = d.last_month;
  const input = d.range_totals.input_tokens + cacheWrites(d.range_totals) + d.range_totals.cache_read_tokens;
  return (
    <>
      <div class="cards">
        <Card testid="spend-today" title="Spend today" value={money(d.today.figures.cost_micro_usd)} detail={`${int(d.today.figures.requests)} requests`} />
        <Card
          testid="spend-month"
          title={`Spend this month (${d.month.month})`}
          value={money(d.month.figures.cost_micro_usd)}
          detail={`${change(d.month.figures.cost_micro_usd, lm.to_date.cost_micro_usd) || "\u2014"} vs the same days of ${lm.month} (${money(lm.to_date.cost_micro_usd)}); ${money(lm.figures.cost_micro_usd)} in all of ${lm.month}`}
        />
        <Card
          testid="requests-month"
          title="Requests this month"
          value={int(d.month.figures.requests)}
          detail={`${change(d.month.figures.requests, lm.to_date.requests) || "\u2014"} vs the same days of ${lm.month} (${int(lm.to_date.requests)}); today ${int(d.today.figures.requests)}`}
        />
        <Card testid="spend-range" title="Spend in range" value={money(d.range_totals.cost_micro_usd)} detail={`${int(d.range_totals.requests)} requests, ${d.range.from} to ${d.range.to}`} />
        <Card testid="cache-share" title="Input served from cache" value={percent(d.cache_share)} detail={`${compact(d.range_totals.cache_read_tokens)} of ${compact(input)} input tokens`} />
      </div>
      <StackedCostChart testid="spend-chart" series={d.daily} scheme={props.scheme} label="Cost per day" />
      <div class="tops">
        <DataTable<PersonRow>
          caption="Top people"
          testid="top-people"
          rows={d.top_people}
          rowKey={(r) => r.sub}
          columns={[
            { label: "Person", cell: (r) => <a href={personHref(r.sub)}>{r.name}</a> },
            { label: "Requests", numeric: true, cell: (r) => int(r.requests) },
            { label: "Cost", numeric: true, testid: "cost", value: (r) => String(usd(r.cost_micro_usd)), cell: (r) => money(r.cost_micro_usd) },
          ]}
        />
        <DataTable<GroupRow>
          caption="Top groups"
          testid="top-groups"
          rows={d.top_groups}
          rowKey={(r) => r.group}
          columns={[
            { label: "Group", cell: (r) => r.group || "(no group)" },
            { label: "Requests", numeric: true, cell: (r) => int(r.requests) },
            { label: "Cost", numeric: true, cell: (r) => money(r.cost_micro_usd) },
          ]}
        />
        <DataTable<ModelRow>
          caption="Top models"
          testid="top-models"
          rows={d.top_models}
          rowKey={(r) => r.model}
          columns={[
            { label: "Model", cell: (r) => r.model },
            { label: "Requests", numeric: true, cell: (r) => int(r.requests) },
            { label: "Cost", numeric: true, cell: (r) => (r.unpriced_requests === r.requests ? "unpriced" : money(r.cost_micro_usd)) },
          ]}
        />
      </div>
    </>
  );
}

/** A searchable, sortable, paged table view over one of the table endpoints. */
function TableView<Row>(props: ViewProps & {
  title: string;
  endpoint: "people" | "groups" | "models";
  searchLabel: string;
  columns: Column<Row>[];
  rowKey: (r: Row) => string;
  rowTestId?: (r: Row) => string;
  testid?: string;
}) {
  const [q, setQ] = useState("");
  const [sort, setSort] = useState<SortColumn>("cost_micro_usd");
  const [dir, setDir] = useState<SortDir>("desc");
  const [offset, setOffset] = useState(0);
  const query = useDebounced(q, 250);
  const limit = 50;
  useEffect(() => setOffset(0), [query, sort, dir, props.range.from, props.range.to]);
  const search = tableSearch({ range: props.range, q: query, sort, dir, offset, limit });
  const { data, error } = useLoad(() => getJson<TablePage<Row>>(props.endpoint, search), [search, props.tick]);
  const csv = apiUrl(props.endpoint, tableSearch({ range: props.range, q: query, sort, dir, format: "csv" }));
  return (
    <section aria-labelledby="view-title">
      <h2 id="view-title">{props.title}</h2>
      <div class="toolbar">
        <label>
          {props.searchLabel}
          <input type="search" value={q} maxLength={100} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} />
        </label>
        <a class="button" href={csv} download={`${props.endpoint}-${props.range.from}-${props.range.to}.csv`}>
          Export CSV
        </a>
      </div>
      <LoadError error={error} />
      {data && (
        <>
          <DataTable<Row>
            caption={`${props.title}, ${data.range.from} to ${data.range.to}: ${int(data.total)} rows, ${money(data.totals.cost_micro_usd)}, ${int(data.totals.requests)} requests`}
            testid={props.testid}
            columns={props.columns}
            rows={data.rows}
            rowKey={props.rowKey}
            {...(props.rowTestId ? { rowTestId: props.rowTestId } : {})}
            sort={data.sort}
            dir={data.dir}
            onSort={(s, d) => {
              setSort(s);
              setDir(d);
            }}
          />
          <Pager offset={data.offset} limit={data.limit} total={data.total} onPage={setOffset} label={props.title} />
        </>
      )}
    </section>
  );
}

export function PeopleView(props: ViewProps) {
  return (
    <TableView<PersonRow>
      {...props}
      title="People"
      endpoint="people"
      searchLabel="Search people (name, email, group)"
      testid="people-table"
      rowKey={(r) => r.sub}
      rowTestId={(r) => `person-row-${r.username ?? r.sub}`}
      columns={[
        {
          label: "Person",
          sort: "name",
          cell: (r) => (
            <>
              <a href={personHref(r.sub)}>{r.name}</a>
              {r.username && r.username !== r.name && <span class="sub-label">{r.username}</span>}
            </>
          ),
        },
        { label: "Groups", cell: (r) => r.groups.join(", ") || "\u2014" },
        ...figureColumns<PersonRow>(),
        { label: "Budget", sort: "burn", cell: (r) => <BurnBar burn={r.budget} label={r.name} /> },
      ]}
    />
  );
}

export function GroupsView(props: ViewProps) {
  return (
    <TableView<GroupRow>
      {...props}
      title="Groups"
      endpoint="groups"
      searchLabel="Search groups"
      testid="groups-table"
      rowKey={(r) => r.group}
      columns={[{ label: "Group", sort: "name", cell: (r) => r.group || "(no group)" }, ...figureColumns<GroupRow>(), { label: "Budget", sort: "burn", cell: (r) => <BurnBar burn={r.budget} label={r.group} /> }]}
    />
  );
}

export function ModelsView(props: ViewProps) {
  return (
    <TableView<ModelRow>
      {...props}
      title="Models"
      endpoint="models"
      searchLabel="Search models"
      testid="models-table"
      rowKey={(r) => r.model}
      columns={[{ label: "Model", sort: "name", cell: (r) => r.model }, ...figureColumns<ModelRow>(), { label: "Unpriced requests", numeric: true, cell: (r) => int(r.unpriced_requests) }]}
    />
  );
}

export function PersonView(props: ViewProps & { sub: string }) {
  const search = new URLSearchParams({ sub: props.sub, from: props.range.from, to: props.range.to }).toString();
  const { data, error, reload } = useLoad(() => getJson<PersonDetail>("person", search), [search, props.tick]);
  const { message, run: act } = useAction(reload);
  const p = data?.person;
  const handle = p ? (p.username ?? p.sub) : "";
  return (
    <section aria-labelledby="view-title">
      <p>
        <a href="#/people">{"\u2190 People"}</a>
      </p>
      <h2 id="view-title">{p?.name ?? "Person"}</h2>
      <LoadError error={error} />
      {data && p && (
        <>
          <dl class="facts">
            <dt>Username</dt>
            <dd>{p.username ?? "\u2014"}</dd>
            <dt>Email</dt>
            <dd>{p.email ?? "\u2014"}</dd>
            <dt>Sub</dt>
            <dd>
              <code>{p.sub}</code>
            </dd>
            <dt>Groups</dt>
            <dd>{p.groups.join(", ") || "\u2014"}</dd>
          </dl>
          <div class="actions">
            {data.revocations.length === 0 ? (
              <button type="button" class="danger" data-testid={`revoke-${handle}`} onClick={() => act(() => send("POST", "revocations", { user: p.sub, reason: "revoked in the console" }), `${p.name} is revoked: their tokens are refused from now on.`)}>
                Revoke access
              </button>
            ) : (
              <button type="button" data-testid={`restore-${handle}`} onClick={() => act(() => send("DELETE", "revocations", undefined, new URLSearchParams({ kind: "user", value: p.sub }).toString()), `${p.name} is restored.`)}>
                Restore access
              </button>
            )}
          </div>
          {message && <Notice kind={message.kind}>{message.text}</Notice>}
          <div class="cards">
            <Card title="Cost in range" value={money(data.totals.cost_micro_usd)} detail={`${data.range.from} to ${data.range.to}`} />
            <Card title="Requests" value={int(data.totals.requests)} />
            <Card title="Input served from cache" value={percent(cacheShare(data.totals))} />
          </div>
          <StackedCostChart series={data.daily} scheme={props.scheme} label={`Cost per day of ${p.name}`} testid="person-chart" />
          <DataTable<ModelRow> caption="By model" rows={data.by_model} rowKey={(r) => r.model} columns={[{ label: "Model", cell: (r) => r.model }, ...figureColumns<ModelRow>()]} />
          <DataTable
            caption="Budgets that apply (this person's, their groups', the tenant's)"
            rows={data.budgets}
            rowKey={(b) => `${b.source}:${b.subject.kind}:${b.subject.id}:${b.period}:${b.unit}`}
            empty="No budget applies."
            columns={[
              { label: "Budget of", cell: (b) => `${b.subject.kind}: ${b.subject.label}` },
              { label: "Limit", numeric: true, cell: (b) => `${amount(b.unit, b.limit)} / ${b.period}` },
              { label: "Used", cell: (b) => <BurnBar burn={{ period: b.period, unit: b.unit, limit: b.limit, used: b.used, fraction: b.fraction, soft: b.soft }} label={b.subject.label} /> },
              { label: "Source", cell: (b) => (b.source === "policy" ? "policy file" : "admin API") },
            ]}
          />
          <DataTable caption="Rate limits that apply" rows={data.limits} rowKey={(l) => `${l.source}:${l.subject.kind}:${l.subject.id}`} empty="No stored limit applies (the gateway's defaults do)." columns={[
            { label: "Limit of", cell: (l) => `${l.subject.kind}: ${l.subject.label}` },
            { label: "Requests per minute", numeric: true, cell: (l) => (l.rpm === null ? "\u2014" : int(l.rpm)) },
            { label: "Tokens per minute", numeric: true, cell: (l) => (l.tpm === null ? "\u2014" : int(l.tpm)) },
          ]} />
          <h3>Sessions</h3>
          {data.sessions === null ? (
            <p class="muted">This gateway does not keep a list of sign-ins; revoking access ends them all.</p>
          ) : (
            <DataTable caption="Sign-ins" rows={data.sessions} rowKey={(s) => s.id} empty="No sign-in seen." columns={[
              { label: "Session", cell: (s) => <code>{s.id}</code> },
              { label: "Last seen", cell: (s) => (s.last_seen ? dateTime(s.last_seen) : "\u2014") },
              { label: "State", cell: (s) => (s.revoked ? "ended" : "active") },
            ]} />
          )}
          {data.revocations.length > 0 && (
            <DataTable caption="Revocations in force" rows={data.revocations} rowKey={(r) => `${r.kind}:${r.value}`} columns={[
              { label: "By", cell: (r) => `${r.kind} ${r.value}` },
              { label: "Since", cell: (r) => dateTime(r.at) },
              { label: "Until", cell: (r) => dateTime(r.until) },
              { label: "Reason", cell: (r) => r.reason ?? "\u2014" },
            ]} />
          )}
          <h3>Set a budget for {p.name}</h3>
          <BudgetForm user={p.username ?? p.email ?? p.sub} onDone={reload} />
        </>
      )}
    </section>
  );
}
