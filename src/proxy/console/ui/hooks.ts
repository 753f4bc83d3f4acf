/** Small shared hooks: the hash route, data loading that keeps the last answer while refreshing, the refresh tick. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Route {
  view: "overview" | "people" | "person" | "groups" | "models" | "budgets" | "audit" | "revocations";
  /** The person's sub on a person page. */
  sub?: string;
}

export function parseRoute(hash: string): Route {
  const [, view = "", ...rest] = hash.replace(/^#/, "").split("/");
  if (view === "people" && rest.length > 0 && rest[0]) return { view: "person", sub: decodeURIComponent(rest.join("/")) };
  const known = ["overview", "people", "groups", "models", "budgets", "audit", "revocations"] as const;
  return { view: (known as readonly string[]).includes(view) ? (view as Route["view"]) : "overview" };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` whenever `deps` change; a newer call wins over an older one still in flight. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const generation = useRef(0);
  const [again, setAgain] = useState(0);
  useEffect(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, loading: false }),
      (e: Error) => mine === generation.current && setState((s) => ({ ...s, error: e.message, loading: false })),
    );
  }, [...deps, again]);
  const reload = useCallback(() => setAgain((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** A counter that moves every `ms` while the page is visible and `on` (auto-refresh), and at once when the page comes back. */
export function useTick(ms: number, on: boolean): number {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!on) return;
    const timer = setInterval(() => !document.hidden && setTick((t) => t + 1), ms);
    const visible = () => !document.hidden && setTick((t) => t + 1);
    document.addEventListener("visibilitychange", visible);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", visible);
    };
  }, [ms, on]);
  return tick;
}

/** "dark" or "light", following the OS as it changes. */
export function useColorScheme(): "light" | "dark" {
  const query = matchMedia("(prefers-color-scheme: dark)");
  const [dark, setDark] = useState(query.matches);
  useEffect(() => {
    const update = () => setDark(query.matches);
    query.addEventListener("change", update);
    return () => query.removeEventListener("change", update);
  }, []);
  return dark ? "dark" : "light";
}

/** The value after it stopped changing for `ms` (typing in a search box). */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** What a change said: done, or why not. */
type ActionMessage = { kind: "ok" | "error"; text: string } | null;

/**
 * A change made from a view (clear, revoke, restore): `run` awaits it, then shows `done` (or what
 * `done` makes of its answer) and calls `after` (the view's reload); a failure shows its message.
 */
export function useAction(after: () => void) {
  const [message, setMessage] = useState<ActionMessage>(null);
  const run = async <T,>(what: () => Promise<T>, done: string | ((answer: T) => string)) => {
    try {
      const answer = await what();
      setMessage({ kind: "ok", text: typeof done === "string" ? done : done(answer) });
      after();
    } catch (e) {
      setMessage({ kind: "error", text: (e as Error).message });
    }
  };
  return { message, run };
}
