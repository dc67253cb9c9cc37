import { useEffect, useState } from "preact/hooks";
import type { AuditEvent, AuditPage as AuditAnswer } from "../../../src/audit/audit.ts";
import { OPERATIONS } from "../../../src/authz/operations.ts";
import { api } from "../api.ts";
import { useConsole } from "../context.ts";
import { navigate, useRoute } from "../router.ts";
import { Badge, Button, Empty, Field, ListTable, PageHeader, Show, Time, useLoad } from "../ui.tsx";
import { SmallButton } from "./ops.tsx";

/** The filters GET /lockbox/v1/audit takes (case-insensitive substrings), kept in the page's query so a view can be shared. */
const FILTERS = ["operation", "caller", "object", "result", "vault"] as const;
type Filters = Record<(typeof FILTERS)[number], string>;
const SIZES = [25, 50, 100, 200];
const DEFAULT_TOP = 50;

const queryOf = (f: Filters, top: number, skip: number): string => {
  const q = new URLSearchParams();
  for (const k of FILTERS) if (f[k].trim()) q.set(k, f[k].trim());
  if (top !== DEFAULT_TOP) q.set("top", String(top));
  if (skip) q.set("skip", String(skip));
  return q.toString();
};

const CLAIM_NAME = "name";
const CLAIM_OBJECT = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/** Who made the request, as a person reads it: the identity's name, the scheduler, or no one (refused before sign-in). */
function Caller({ event }: { event: AuditEvent }) {
  const claim = event.identity?.claim ?? {};
  if (claim.appid === "lockbox-scheduler") return <span class="muted">scheduler</span>;
  const name = claim[CLAIM_NAME];
  if (!name && !claim[CLAIM_OBJECT]) return <span class="muted">anonymous</span>;
  return <span title={`object id ${claim[CLAIM_OBJECT] ?? "?"}, client id ${claim.appid ?? "?"}`}>{name ?? claim[CLAIM_OBJECT]}</span>;
}

/** The object of a line: the path of its id (/secrets/NAME/VERSION) or of the request, without the query. */
function objectOf(event: AuditEvent): { text: string; full: string } | undefined {
  const full = (event.properties?.id ?? event.properties?.requestUri) as string | undefined;
  if (typeof full !== "string" || !full) return undefined;
  try {
    const u = new URL(full, "https://x");
    return { text: decodeURIComponent(u.pathname), full };
  } catch {
    return { text: full, full };
  }
}

/** The server's audit log (Key Vault's AuditEvent lines), newest first, filtered and paged by the server. */
export function AuditPage() {
  const { epoch } = useConsole();
  const { query } = useRoute();
  const applied: Filters = { operation: "", caller: "", object: "", result: "", vault: "" };
  for (const k of FILTERS) applied[k] = query.get(k) ?? "";
  const top = SIZES.includes(Number(query.get("top"))) ? Number(query.get("top")) : DEFAULT_TOP;
  const skip = Math.max(0, Math.floor(Number(query.get("skip")) || 0));
  const qs = queryOf(applied, top, skip);
  const answer = useLoad(() => api.admin<AuditAnswer>("GET", `/audit${qs ? `?${qs}` : ""}`), [qs, epoch]);
  const vaults = useLoad(() => api.vaults().then((r) => r.value), []);
  const [form, setForm] = useState<Filters>(applied);
  // The form follows the query when it changes from outside (back, a link).
  useEffect(() => setForm(applied), [qs]);
  const [open, setOpen] = useState<Set<number>>(new Set());
  useEffect(() => setOpen(new Set()), [qs, answer.data]);
  const go = (f: Filters, size: number, from: number) => navigate(`/audit${queryOf(f, size, from) ? `?${queryOf(f, size, from)}` : ""}`);
  const field = (k: (typeof FILTERS)[number]) => ({
    value: form[k],
    onInput: (e: { currentTarget: HTMLInputElement | HTMLSelectElement }) => setForm({ ...form, [k]: e.currentTarget.value }),
  });
  const filtered = FILTERS.some((k) => applied[k]);

  return (
    <>
      <PageHeader
        title="Audit log"
        sub="Every request and every scheduled action, as Key Vault's AuditEvent lines: who did what to which object, and how it ended."
        actions={
          <Button tone="ghost" onClick={answer.reload}>
            Refresh
          </Button>
        }
      />
      <form
        class="card filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          go(form, top, 0);
        }}
      >
        <div class="filter-row">
          <Field label="Operation">
            <input list="audit-operations" placeholder="SecretGet" autoComplete="off" {...field("operation")} />
          </Field>
          <datalist id="audit-operations">
            {[...OPERATIONS.keys()].map((o) => (
              <option key={o} value={o} />
            ))}
          </datalist>
          <Field label="Caller">
            <input placeholder="name, object id or client id" autoComplete="off" {...field("caller")} />
          </Field>
          <Field label="Object">
            <input placeholder="secrets/db-password" autoComplete="off" {...field("object")} />
          </Field>
          <Field label="Result">
            <select {...field("result")} onChange={(e) => setForm({ ...form, result: e.currentTarget.value })}>
              <option value="">Any</option>
              <option value="Success">Success</option>
              <option value="Failure">Failure</option>
            </select>
          </Field>
          <Field label="Vault">
            <select {...field("vault")} onChange={(e) => setForm({ ...form, vault: e.currentTarget.value })}>
              <option value="">All vaults</option>
              {(vaults.data ?? []).map((v) => (
                <option key={v.name} value={v.name}>
                  {v.name}
                </option>
              ))}
              {form.vault && !(vaults.data ?? []).some((v) => v.name === form.vault) ? (
                <option value={form.vault}>{form.vault}</option>
              ) : null}
            </select>
          </Field>
        </div>
        <div class="actions">
          <Button tone="primary" type="submit">
            Filter
          </Button>
          {filtered ? (
            <Button
              tone="ghost"
              onClick={() => {
                const none = { operation: "", caller: "", object: "", result: "", vault: "" };
                setForm(none);
                go(none, top, 0);
              }}
            >
              Clear filters
            </Button>
          ) : null}
          <label class="inline-field">
            <span>Lines per page</span>
            <select value={String(top)} onChange={(e) => go(applied, Number(e.currentTarget.value), 0)}>
              {SIZES.map((n) => (
                <option key={n} value={String(n)}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        </div>
      </form>
      <Show loaded={answer} rows={6}>
        {(page) =>
          page.value.length === 0 ? (
            <Empty title={filtered ? "No line matches these filters." : "The audit log is empty."}>
              {page.total > 0 && page.skip >= page.total ? "There are fewer lines than that: go back to the first page." : null}
            </Empty>
          ) : (
            <>
              <p class="muted small" aria-live="polite">
                Lines {page.skip + 1}–{page.skip + page.value.length} of {page.total.toLocaleString()}
                {filtered ? " matching" : ""}, newest first.
              </p>
              <ListTable
                class="stack audit"
                label="Audit log"
                head={
                  <>
                    <th>Time</th>
                    <th>Operation</th>
                    <th>Caller</th>
                    <th>Object</th>
                    <th>Result</th>
                    <th class="hide-narrow">Duration</th>
                    <th>
                      <span class="visually-hidden">Details</span>
                    </th>
                  </>
                }
              >
                {page.value.flatMap((e, i) => {
                  const object = objectOf(e);
                  const expanded = open.has(i);
                  const rows = [
                    <tr key={`${i}-line`} class={e.resultType === "Failure" ? "failure" : undefined}>
                      <td class="nowrap">
                        <Time s={Date.parse(e.time) / 1000} />
                      </td>
                      <td>
                        <code>{e.operationName}</code>
                      </td>
                      <td>
                        <Caller event={e} />
                      </td>
                      <td class="audit-object">{object ? <code title={object.full}>{object.text}</code> : <span class="muted">—</span>}</td>
                      <td>
                        {e.resultType === "Success" ? (
                          <Badge tone="ok">Success</Badge>
                        ) : (
                          <Badge tone="bad">Failure{e.resultSignature ? `: ${e.resultSignature}` : ""}</Badge>
                        )}
                      </td>
                      <td class="hide-narrow muted">{e.durationMs} ms</td>
                      <td class="actions-cell">
                        <SmallButton
                          expanded={expanded}
                          label={`${expanded ? "Hide" : "Show"} the line of ${e.operationName} at ${e.time}`}
                          onClick={() => {
                            const next = new Set(open);
                            if (expanded) next.delete(i);
                            else next.add(i);
                            setOpen(next);
                          }}
                        >
                          {expanded ? "Hide" : "JSON"}
                        </SmallButton>
                      </td>
                    </tr>,
                  ];
                  if (expanded)
                    rows.push(
                      <tr key={`${i}-json`} class="detail">
                        <td colSpan={7}>
                          {e.resultDescription ? <p class="small">{e.resultDescription}</p> : null}
                          <pre class="json">{JSON.stringify(e, null, 2)}</pre>
                        </td>
                      </tr>,
                    );
                  return rows;
                })}
              </ListTable>
              <nav class="pager" aria-label="Pages">
                <Button tone="ghost" disabled={page.skip === 0} onClick={() => go(applied, top, Math.max(0, page.skip - top))}>
                  ← Newer
                </Button>
                <span class="muted">
                  Page {Math.floor(page.skip / top) + 1} of {Math.max(1, Math.ceil(page.total / top))}
                </span>
                <Button
                  tone="ghost"
                  disabled={page.skip + page.value.length >= page.total}
                  onClick={() => go(applied, top, page.skip + top)}
                >
                  Older →
                </Button>
              </nav>
            </>
          )
        }
      </Show>
    </>
  );
}
