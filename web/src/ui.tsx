import type { ComponentChildren, JSX } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.ts";
import { BASE, navigate } from "./router.ts";

// ---- Time: shown in the viewer's time zone, the exact timestamp on hover. ----

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** An epoch-seconds time, in the viewer's zone; the exact ISO 8601 time (UTC) is its title. */
export function Time({ s, empty = "—" }: { s: number | undefined | null; empty?: string }) {
  if (s === undefined || s === null) return <span class="muted">{empty}</span>;
  const d = new Date(s * 1000);
  return (
    <time dateTime={d.toISOString()} title={`${d.toISOString()} (UTC)`}>
      {dateFormat.format(d)}
    </time>
  );
}

/** "in 3 days", "2 hours ago", from `now` (epoch seconds, the instance's clock when it is given). */
export function relative(s: number, now = Date.now() / 1000): string {
  const diff = s - now;
  const abs = Math.abs(diff);
  const units: Array<[Intl.RelativeTimeFormatUnit, number]> = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  for (const [unit, size] of units) if (abs >= size) return rtf.format(Math.round(diff / size), unit);
  return rtf.format(Math.round(diff), "second");
}

// ---- Loading data ----

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; `reload()` runs it again. The last answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const mine = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === latest.current && setState({ data, loading: false }),
      (error: unknown) => mine === latest.current && setState({ error, loading: false }),
    );
  }, [...deps, round]);
  return { data: state.data, error: state.error, loading: state.loading, reload: useCallback(() => setRound((r) => r + 1), []) };
}

/** Runs an action (a click): busy while it runs, its error kept for the page to show. */
export function useAction(): { run: (fn: () => Promise<unknown>) => Promise<boolean>; busy: boolean; error: unknown; clear: () => void } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const run = async (fn: () => Promise<unknown>): Promise<boolean> => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
      return true;
    } catch (e) {
      setError(e);
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { run, busy, error, clear: () => setError(undefined) };
}

// ---- Messages ----

/** An error as a person reads it: Azure's code and message for a refused call. */
export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : undefined;
  return (
    <div class="banner error" role="alert">
      <strong>{e ? (e.status === 403 ? "Not allowed" : `${e.status} ${e.code}`) : "Something went wrong"}</strong>
      <span>{e ? e.message : String((error as Error)?.message ?? error)}</span>
      {e && e.status === 403 ? <span class="muted small">({e.code})</span> : null}
    </div>
  );
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <div class="banner ok" role="status">
      {children}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{title}</p>
      {children ? <p class="muted">{children}</p> : null}
    </div>
  );
}

/** While loading, a placeholder of the same height, so the page does not jump. */
export function Loading({ rows = 3 }: { rows?: number }) {
  return (
    <div class="loading" aria-busy="true" aria-label="Loading">
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} class="skeleton" />
      ))}
    </div>
  );
}

/** The data of a load, or its loading placeholder or error. */
export function Show<T>({ loaded, children, rows }: { loaded: Loaded<T>; children: (data: T) => ComponentChildren; rows?: number }) {
  if (loaded.error) return <ErrorBanner error={loaded.error} />;
  if (loaded.data === undefined) return <Loading rows={rows} />;
  return <>{children(loaded.data)}</>;
}

// ---- Layout ----

export function PageHeader({ title, sub, actions }: { title: ComponentChildren; sub?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div>
        <h1>{title}</h1>
        {sub ? <p class="sub">{sub}</p> : null}
      </div>
      {actions ? <div class="actions">{actions}</div> : null}
    </header>
  );
}

export function Section({ title, actions, children }: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card">
      <div class="card-head">
        <h2>{title}</h2>
        {actions ? <div class="actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

/** A link inside the console (no reload). */
export function Link({
  to,
  children,
  class: cls,
  ...rest
}: { to: string; children: ComponentChildren; class?: string } & JSX.HTMLAttributes<HTMLAnchorElement>) {
  return (
    <a
      {...rest}
      class={cls}
      href={`${BASE}${to}`}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

export function Badge({ tone = "plain", children }: { tone?: "plain" | "ok" | "warn" | "bad" | "info"; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

export function Enabled({ enabled }: { enabled: boolean | undefined }) {
  return enabled === false ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">enabled</Badge>;
}

// ---- Forms ----

/** A labelled control: the label (and only it) names the control, for screen readers and tests; the hint follows it. */
export function Field({ label, hint, children }: { label: string; hint?: ComponentChildren; children: ComponentChildren }) {
  return (
    <div class="field">
      <label>
        <span class="field-label">{label}</span>
        {children}
      </label>
      {hint ? <span class="hint">{hint}</span> : null}
    </div>
  );
}

type ButtonProps = JSX.HTMLAttributes<HTMLButtonElement> & {
  tone?: "primary" | "danger" | "ghost" | "plain";
  busy?: boolean;
  disabled?: boolean;
  type?: "button" | "submit";
};

export function Button({ tone = "plain", busy, children, disabled, type = "button", ...rest }: ButtonProps) {
  return (
    <button {...rest} type={type} class={`btn ${tone}`} disabled={disabled || busy} aria-busy={busy ? "true" : undefined}>
      {children}
    </button>
  );
}

/**
 * A button that asks first, in a modal dialog (Escape or Cancel closes it; focus goes to
 * Cancel, so Enter does not destroy by accident).
 */
export function ConfirmButton({
  label,
  title,
  question,
  confirm = label,
  tone = "danger",
  onConfirm,
  small,
}: {
  label: string;
  title?: string;
  question: ComponentChildren;
  confirm?: string;
  tone?: "danger" | "primary";
  onConfirm: () => Promise<unknown> | void;
  small?: boolean;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  return (
    <>
      <button
        type="button"
        class={`btn ${tone === "danger" ? "danger-ghost" : "plain"}${small ? " small" : ""}`}
        onClick={() => {
          dialog.current?.showModal();
          cancel.current?.focus();
        }}
      >
        {label}
      </button>
      <dialog ref={dialog} class="dialog" aria-label={title ?? label}>
        <h3>{title ?? label}</h3>
        <div class="dialog-body">{question}</div>
        <div class="dialog-actions">
          <button type="button" ref={cancel} class="btn plain" onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button
            type="button"
            class={`btn ${tone}`}
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              try {
                await onConfirm();
              } finally {
                setBusy(false);
                dialog.current?.close();
              }
            }}
          >
            {confirm}
          </button>
        </div>
      </dialog>
    </>
  );
}

// ---- Lists ----

export const PAGE_SIZE = 25;

/** Pages through a list in the browser: the items of the current page, and the pager under it. */
export function usePages<T>(items: T[], size = PAGE_SIZE): { shown: T[]; pager: ComponentChildren } {
  const [page, setPage] = useState(0);
  const pages = Math.max(1, Math.ceil(items.length / size));
  const current = Math.min(page, pages - 1);
  useEffect(() => setPage(0), [items.length]);
  const shown = items.slice(current * size, current * size + size);
  const pager =
    pages > 1 ? (
      <nav class="pager" aria-label="Pages">
        <Button tone="ghost" disabled={current === 0} onClick={() => setPage(current - 1)}>
          ← Previous
        </Button>
        <span class="muted">
          Page {current + 1} of {pages} · {items.length} in all
        </span>
        <Button tone="ghost" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
          Next →
        </Button>
      </nav>
    ) : null;
  return { shown, pager };
}

/** Reads every page of a data-plane list (following nextLink). */
export async function allPages<T>(
  first: { value: T[]; nextLink?: string | null },
  next: (link: string) => Promise<{ value: T[]; nextLink?: string | null }>,
): Promise<T[]> {
  const out = [...first.value];
  let link = first.nextLink;
  while (link) {
    const page = await next(link);
    out.push(...page.value);
    link = page.nextLink;
  }
  return out;
}

/** A search box that filters as one types. */
export function Search({ value, onInput, label = "Search" }: { value: string; onInput: (v: string) => void; label?: string }) {
  return (
    <input
      type="search"
      class="search"
      placeholder={`${label}…`}
      aria-label={label}
      value={value}
      onInput={(e) => onInput((e.target as HTMLInputElement).value)}
    />
  );
}

/** Key/value tags, shown as chips. */
export function Tags({ tags }: { tags: Record<string, string> | undefined }) {
  const entries = Object.entries(tags ?? {});
  if (!entries.length) return <span class="muted">none</span>;
  return (
    <span class="tags">
      {entries.map(([k, v]) => (
        <span key={k} class="tag">
          <b>{k}</b>
          {v ? `=${v}` : ""}
        </span>
      ))}
    </span>
  );
}

/** "a=1, b=2" <-> { a: "1", b: "2" } for editing tags in one text field. */
export const tagsText = (tags: Record<string, string> | undefined): string =>
  Object.entries(tags ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
export function parseTags(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(",")) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq < 0) out[t] = "";
    else out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim();
  }
  return out;
}

/** Text one can copy with a button. */
export function Copyable({ text, label = "Copy" }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      class="btn ghost small"
      onClick={async () => {
        await navigator.clipboard?.writeText(text).catch(() => undefined);
        setDone(true);
        setTimeout(() => setDone(false), 1500);
      }}
    >
      {done ? "Copied" : label}
    </button>
  );
}

/** Data-plane paths for an object kind: "/secrets/NAME/VERSION". */
export const objectPath = (collection: string, name: string, version?: string): string =>
  `/${collection}/${encodeURIComponent(name)}${version !== undefined ? `/${encodeURIComponent(version)}` : ""}`;

/**
 * A vault's objects as a searchable, paged table, sorted by name: the search box, the empty
 * states ("no match" and "none yet"), the table in its frame and the pager.
 */
export function SearchableList<T>({
  loaded,
  nameOf,
  label,
  noun,
  emptyHint,
  head,
  row,
  extraMatch,
}: {
  loaded: Loaded<T[]>;
  nameOf: (item: T) => string;
  /** The table's accessible name, e.g. "Secrets". */
  label: string;
  /** "key": "No key matches ...", "This vault has no keys yet." */
  noun: string;
  emptyHint: ComponentChildren;
  /** The header cells. */
  head: ComponentChildren;
  row: (item: T, name: string) => ComponentChildren;
  /** Also found by the search when this text (e.g. a content type) holds the query. */
  extraMatch?: (item: T) => string | undefined;
}) {
  const [query, setQuery] = useState("");
  const q = query.trim().toLowerCase();
  const items = (loaded.data ?? [])
    .map((item) => ({ item, name: nameOf(item) }))
    .filter(({ item, name }) => !q || name.toLowerCase().includes(q) || (extraMatch?.(item) ?? "").toLowerCase().includes(q))
    .sort((a, b) => a.name.localeCompare(b.name));
  const { shown, pager } = usePages(items);
  return (
    <>
      {!loaded.error ? (
        <div class="toolbar">
          <Search value={query} onInput={setQuery} label={`Search ${label.toLowerCase()}`} />
        </div>
      ) : null}
      <Show loaded={loaded}>
        {(all) =>
          items.length === 0 ? (
            <Empty title={all.length ? `No ${noun} matches “${query}”.` : `This vault has no ${label.toLowerCase()} yet.`}>
              {all.length ? "Try another part of the name." : emptyHint}
            </Empty>
          ) : (
            <>
              <ListTable label={label} head={head}>
                {shown.map(({ item, name }) => row(item, name))}
              </ListTable>
              {pager}
            </>
          )
        }
      </Show>
    </>
  );
}

/** A list as a table in its scrolling frame: header cells, then the rows. */
export function ListTable({
  label,
  class: cls,
  head,
  children,
}: {
  label?: string;
  class?: string;
  head: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class={cls ? `list ${cls}` : "list"} aria-label={label}>
        <thead>
          <tr>{head}</tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** The end of a form: the last call's error, the submit button and Cancel. */
export function FormActions({ submit, busy, error, onCancel }: { submit: string; busy: boolean; error: unknown; onCancel: () => void }) {
  return (
    <>
      <ErrorBanner error={error} />
      <div class="actions form-actions">
        <Button tone="primary" type="submit" busy={busy}>
          {submit}
        </Button>
        <Button tone="ghost" onClick={onCancel}>
          Cancel
        </Button>
      </div>
    </>
  );
}
