/**
 * The admin console in the browser: Preact views over the console API, uPlot charts, every asset
 * served by the gateway (bundled by ../assets.ts). Routes live in the URL's hash (#/people, #/people/<sub>),
 * so the gateway serves one page; the session cookie is HttpOnly, the CSRF token comes from
 * `api/session` and goes back on every change.
 */
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { type ConsoleErrorBody, presetRange, type SessionInfo } from "../../../shared/console-api.ts";
import { AuditView, BudgetsView, Forbidden, RevocationsView, SignedOut } from "./admin-views.tsx";
import { ApiError, getJson, send, setAuthFailureHandler, setCsrfToken } from "./api.ts";
import { type RangeChoice, RangePicker } from "./components.tsx";
import { type Route, useColorScheme, useRoute, useTick } from "./hooks.ts";
import { GroupsView, ModelsView, OverviewView, PeopleView, PersonView, type ViewProps } from "./views.tsx";

type AppState = { kind: "loading" } | { kind: "in"; session: SessionInfo } | { kind: "out"; message?: string } | { kind: "forbidden"; body: ConsoleErrorBody } | { kind: "error"; message: string };

const NAV: { view: Route["view"]; label: string }[] = [
  { view: "overview", label: "Overview" },
  { view: "people", label: "People" },
  { view: "groups", label: "Groups" },
  { view: "models", label: "Models" },
  { view: "budgets", label: "Budgets & limits" },
  { view: "audit", label: "Audit" },
  { view: "revocations", label: "Revocations" },
];

const REFRESH_MS = 30_000;

async function signOut(): Promise<void> {
  try {
    const { next } = await send<{ next: string }>("POST", "logout");
    location.assign(next);
  } catch {
    location.assign("./?signed_out=1");
  }
}

function App() {
  const [state, setState] = useState<AppState>({ kind: "loading" });
  const loadSession = () =>
    getJson<SessionInfo>("session", "", true).then(
      (session) => {
        setCsrfToken(session.csrf_token);
        setState((s) => (s.kind === "in" && s.session.today === session.today && s.session.csrf_token === session.csrf_token ? s : { kind: "in", session }));
      },
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) setState({ kind: "out", ...(new URLSearchParams(location.search).has("signed_out") ? { message: "You are signed out." } : {}) });
        else if (e instanceof ApiError && e.body.error.type === "forbidden") {
          if (e.body.csrf_token) setCsrfToken(e.body.csrf_token);
          setState({ kind: "forbidden", body: e.body });
        } else setState({ kind: "error", message: (e as Error).message });
      },
    );
  useEffect(() => {
    setAuthFailureHandler((e) => {
      if (e.status === 401) setState({ kind: "out", message: "Your session ended." });
      else setState({ kind: "forbidden", body: e.body });
    });
    void loadSession();
  }, []);
  if (state.kind === "loading") return <main id="main" class="standalone" aria-busy="true"><p>Loading…</p></main>;
  if (state.kind === "out") return <SignedOut {...(state.message ? { message: state.message } : {})} />;
  if (state.kind === "forbidden") return <Forbidden body={state.body} onSignOut={signOut} />;
  if (state.kind === "error")
    return (
      <main id="main" class="standalone">
        <h1>Agent runner console</h1>
        <p role="alert">The console could not start: {state.message}</p>
      </main>
    );
  return <Console session={state.session} keepAlive={loadSession} />;
}

function Console(props: { session: SessionInfo; keepAlive: () => Promise<void> }) {
  const route = useRoute();
  const scheme = useColorScheme();
  const today = props.session.today;
  const [choice, setChoice] = useState<RangeChoice>(() => ({ preset: "30d", range: presetRange("30d", today) }));
  const [auto, setAuto] = useState(true);
  const [manual, setManual] = useState(0);
  const tick = useTick(REFRESH_MS, auto) + manual;
  const [updated, setUpdated] = useState(() => new Date());
  const main = useRef<HTMLElement>(null);
  // a new day (the session's `today`) moves a preset range with it
  useEffect(() => {
    if (choice.preset !== "custom") setChoice({ preset: choice.preset, range: presetRange(choice.preset, today) });
  }, [today]);
  useEffect(() => {
    setUpdated(new Date());
    if (tick > 0) void props.keepAlive();
  }, [tick]);
  useEffect(() => {
    const active = NAV.find((n) => n.view === route.view)?.label ?? "Person";
    document.title = `${active} \u2014 Agent runner console`;
  }, [route.view]);
  const view: ViewProps = { range: choice.range, tick, scheme, today };
  return (
    <>
      <button type="button" class="skip" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <div class="brand">
          <h1>Agent runner console</h1>
          <span class="tenant">{props.session.tenant}</span>
        </div>
        <nav aria-label="Views">
          <ul>
            {NAV.map((n) => (
              <li key={n.view}>
                <a href={`#/${n.view}`} aria-current={route.view === n.view || (n.view === "people" && route.view === "person") ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="user">
          <span>{props.session.user.name}</span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <div class="controls">
        <RangePicker today={today} value={choice} onChange={setChoice} />
        <label class="check">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto((e.currentTarget as HTMLInputElement).checked)} />
          Auto-refresh every 30 s
        </label>
        <button type="button" onClick={() => setManual((m) => m + 1)}>
          Refresh now
        </button>
        <span class="muted" aria-live="polite">
          Updated {updated.toLocaleTimeString("en-GB")}
        </span>
      </div>
      <main id="main" ref={main} tabIndex={-1}>
        {route.view === "overview" && <OverviewView {...view} />}
        {route.view === "people" && <PeopleView {...view} />}
        {route.view === "person" && route.sub && <PersonView {...view} sub={route.sub} />}
        {route.view === "groups" && <GroupsView {...view} />}
        {route.view === "models" && <ModelsView {...view} />}
        {route.view === "budgets" && <BudgetsView {...view} />}
        {route.view === "audit" && <AuditView {...view} />}
        {route.view === "revocations" && <RevocationsView {...view} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);
