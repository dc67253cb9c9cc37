// What the keys and certificates pages share: the deleted collection (recover, purge), the
// Active/Deleted switch, the instance's time (the dev clock's, when it runs), and what the
// scheduler will do to one object.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { api, idParts, type Attributes, type Page } from "../api.ts";
import { useConsole, useCan } from "../context.ts";
import { navigate, seg, useRoute } from "../router.ts";
import {
  allPages,
  Badge,
  Button,
  ConfirmButton,
  Empty,
  ErrorBanner,
  ListTable,
  Notice,
  PageHeader,
  relative,
  Search,
  Show,
  Time,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";

/** The key types the console creates (a key, or a certificate's), as Key Vault names them. */
export const KEY_TYPES: Array<{ label: string; kty: "RSA" | "EC"; size?: number; crv?: string }> = [
  { label: "RSA 2048", kty: "RSA", size: 2048 },
  { label: "RSA 3072", kty: "RSA", size: 3072 },
  { label: "RSA 4096", kty: "RSA", size: 4096 },
  { label: "EC P-256", kty: "EC", crv: "P-256" },
  { label: "EC P-384", kty: "EC", crv: "P-384" },
  { label: "EC P-521", kty: "EC", crv: "P-521" },
];

/** Every item of a data-plane list, following its nextLink. */
export async function listAll<T>(vault: string, path: string): Promise<T[]> {
  const first = await api.kv<Page<T>>("GET", vault, path);
  return allPages(first, (link) => api.kvNext<Page<T>>(vault, link));
}

/** The list of a collection, or its deleted collection, as the page's query says (?view=deleted). */
export function useView(): "active" | "deleted" {
  return useRoute().query.get("view") === "deleted" ? "deleted" : "active";
}

/** The switch between a collection and its deleted objects: two links, the current one marked. */
export function ViewTabs({ vault, collection, view }: { vault: string; collection: string; view: "active" | "deleted" }) {
  const base = `/vaults/${seg(vault)}/${collection}`;
  const tab = (to: string, label: string, current: boolean) => (
    <a
      href={`/console${to}`}
      class={current ? "view-tab active" : "view-tab"}
      aria-current={current ? "page" : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {label}
    </a>
  );
  return (
    <nav class="view-tabs" aria-label="Which objects">
      {tab(base, "Active", view === "active")}
      {tab(`${base}?view=deleted`, "Deleted", view === "deleted")}
    </nav>
  );
}

interface DeletedItem {
  kid?: string;
  id?: string;
  recoveryId: string;
  deletedDate?: number;
  scheduledPurgeDate?: number;
  attributes: Attributes;
  managed?: boolean;
}

/**
 * A deleted collection (GET /deletedkeys, /deletedcertificates): what was deleted and when it
 * is purged, with Recover and Purge. A vault with purge protection refuses the purge; the page
 * says so beforehand (its recovery level has no "Purgeable") and shows Key Vault's refusal.
 */
export function DeletedList({ vault, collection, noun }: { vault: string; collection: "keys" | "certificates"; noun: string }) {
  const { epoch } = useConsole();
  const list = useLoad(() => listAll<DeletedItem>(vault, `/deleted${collection}`), [vault, collection, epoch]);
  const can = useCan(vault);
  // KeyRecover, CertificatePurge, ...: what the identity may do to deleted objects.
  const prefix = collection === "keys" ? "Key" : "Certificate";
  const action = useAction();
  const [done, setDone] = useState<string | undefined>(undefined);
  const [query, setQuery] = useState("");
  const items = (list.data ?? [])
    .map((d) => ({ ...d, name: idParts(d.recoveryId).name }))
    .filter((d) => !d.managed && d.name.toLowerCase().includes(query.trim().toLowerCase()));
  const { shown, pager } = usePages(items);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setDone(undefined);
    if (await action.run(fn)) {
      setDone(what);
      list.reload();
    }
  };
  return (
    <>
      <div class="toolbar">
        <Search value={query} onInput={setQuery} label={`Search deleted ${collection}`} />
      </div>
      <ErrorBanner error={action.error} />
      {done ? <Notice>{done}</Notice> : null}
      <Show loaded={list}>
        {() =>
          items.length === 0 ? (
            <Empty title={query ? `No deleted ${noun} matches “${query}”.` : `No deleted ${collection}.`}>
              A deleted {noun} stays here, recoverable, until its purge date.
            </Empty>
          ) : (
            <>
              <ListTable
                head={
                  <>
                    <th>Name</th>
                    <th>Deleted</th>
                    <th>Purge date</th>
                    <th class="hide-narrow">Recovery</th>
                    <th>
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </>
                }
              >
                {shown.map((d) => {
                  const purgeable = (d.attributes.recoveryLevel ?? "").includes("Purgeable");
                  return (
                    <tr key={d.recoveryId}>
                      <td>
                        <strong>{d.name}</strong>
                      </td>
                      <td>
                        <Time s={d.deletedDate} />
                      </td>
                      <td>
                        <Time s={d.scheduledPurgeDate} />
                      </td>
                      <td class="hide-narrow">
                        {purgeable ? (
                          <span class="muted small">{d.attributes.recoveryLevel}</span>
                        ) : (
                          <Badge tone="info">purge protection</Badge>
                        )}
                      </td>
                      <td class="actions-cell">
                        <span class="actions">
                          {can(`${prefix}Recover`) ? (
                            <button
                              type="button"
                              class="btn small"
                              disabled={action.busy}
                              aria-label={`Recover ${d.name}`}
                              onClick={() =>
                                act(`${d.name} is recovered.`, () =>
                                  api.kv("POST", vault, `/deleted${collection}/${encodeURIComponent(d.name)}/recover`),
                                )
                              }
                            >
                              Recover
                            </button>
                          ) : null}
                          {can(`${prefix}Purge`) ? (
                            <ConfirmButton
                              small
                              label="Purge"
                              title={`Purge ${d.name}?`}
                              question={
                                purgeable ? (
                                  <p>
                                    The {noun} <strong>{d.name}</strong> and all its versions are removed for good. This cannot be undone.
                                  </p>
                                ) : (
                                  <p>
                                    This vault has purge protection: Key Vault refuses to purge <strong>{d.name}</strong> before{" "}
                                    <Time s={d.scheduledPurgeDate} />.
                                  </p>
                                )
                              }
                              onConfirm={() =>
                                act(`${d.name} is purged.`, () =>
                                  api.kv("DELETE", vault, `/deleted${collection}/${encodeURIComponent(d.name)}`),
                                )
                              }
                            />
                          ) : null}
                        </span>
                      </td>
                    </tr>
                  );
                })}
              </ListTable>
              {pager}
            </>
          )
        }
      </Show>
    </>
  );
}

/**
 * The instance's time in epoch seconds: with the dev clock, what the instance says (an
 * administrator may read it), carried forward by the browser's clock; else the browser's.
 */
export function useInstanceNow(): number {
  const { session, epoch } = useConsole();
  const canRead = session.devClock && session.identity.admin;
  const clock = useLoad(
    () =>
      canRead
        ? api.admin<{ now: number }>("GET", "/clock").then((c) => ({ offset: c.now - Date.now() / 1000 }))
        : Promise.resolve({ offset: 0 }),
    [epoch, canRead],
  );
  return Date.now() / 1000 + (clock.data?.offset ?? 0);
}

/** One piece of work the scheduler will do (GET /lockbox/v1/schedule). */
export interface ScheduledAction {
  vault: string;
  kind: "key" | "secret" | "certificate";
  name: string;
  version?: string;
  action: string;
  due: number;
  operationName?: string;
  leasedUntil?: number;
}

/**
 * What the scheduler will do to one object, soonest first, for an administrator (only they may
 * read the admin API); undefined for anyone else.
 */
export function useSchedule(vault: string, kind: ScheduledAction["kind"], name: string, deps: unknown[]) {
  const { session, epoch } = useConsole();
  const admin = session.identity.admin;
  return useLoad(async () => {
    if (!admin) return undefined;
    const r = await api.admin<{ value: ScheduledAction[] }>("GET", `/schedule?vault=${encodeURIComponent(vault)}&top=1000`);
    return r.value.filter((a) => a.kind === kind && a.name.toLowerCase() === name.toLowerCase());
  }, [vault, kind, name, admin, epoch, ...deps]);
}

const ACTION_WORDS: Record<string, string> = {
  Rotate: "Rotation",
  NearExpiry: "Near-expiry notice",
  Expired: "Expiry",
  DisablePrevious: "The previous version is disabled",
  Purge: "Purge",
};

/** The scheduler's planned actions as a timeline, each with its time and how far off it is. */
export function ScheduleTimeline({ actions, now, renew }: { actions: ScheduledAction[]; now: number; renew?: boolean }) {
  if (!actions.length) return <p class="muted">Nothing is planned for it.</p>;
  return (
    <ol class="timeline" aria-label="Planned by the scheduler">
      {actions.map((a) => (
        <li key={`${a.action}-${a.version ?? ""}`} class={a.due <= now ? "past" : ""}>
          <strong>{a.action === "Rotate" && renew ? "Renewal" : (ACTION_WORDS[a.action] ?? a.action)}</strong> <Time s={a.due} />{" "}
          <span class="muted">({relative(a.due, now)})</span>
          {a.leasedUntil ? (
            <>
              {" "}
              <Badge tone="warn">in progress</Badge>
            </>
          ) : null}
          {a.version ? <div class="muted small mono">of version {a.version}</div> : null}
        </li>
      ))}
    </ol>
  );
}

/** Saves bytes or text as a file the browser downloads, made here: nothing is fetched. */
export function download(name: string, type: string, content: BlobPart): void {
  const url = URL.createObjectURL(new Blob([content], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.style.display = "none";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** base64 or base64url (as the wire writes DER) to bytes. */
export function base64Bytes(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/").replace(/\s+/g, "");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** PEM armour around DER bytes: "-----BEGIN LABEL-----", 64 base64 characters a line. */
export function pem(label: string, der: Uint8Array): string {
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  const lines = btoa(bin).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** Bytes as hex pairs with colons, as certificate viewers show a thumbprint. */
export const hexPairs = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");

/** The version id of a versioned object id, shortened for a table (the whole one on hover). */
export function VersionId({ version, current }: { version: string | undefined; current?: boolean }) {
  return (
    <span class="version-id">
      <code title={version}>{version ? version.slice(0, 12) : "—"}</code>
      {current ? <Badge tone="info">current</Badge> : null}
    </span>
  );
}

/**
 * A collection's page (keys, certificates): its title, New (when the identity may create),
 * the Active/Deleted switch, and the list or the deleted list.
 */
export function CollectionPage({
  vault,
  title,
  collection,
  noun,
  createOperation,
  create,
  list,
}: {
  vault: string;
  title: string;
  collection: "keys" | "certificates";
  noun: string;
  /** The operation New performs, e.g. KeyCreate: offered only to whom may. */
  createOperation: string;
  create: (close: () => void) => ComponentChildren;
  list: ComponentChildren;
}) {
  const can = useCan(vault);
  const view = useView();
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHeader
        title={title}
        sub={vault}
        actions={
          view === "active" && !creating && can(createOperation) ? (
            <Button tone="primary" onClick={() => setCreating(true)}>
              New {noun}
            </Button>
          ) : null
        }
      />
      <ViewTabs vault={vault} collection={collection} view={view} />
      {view === "deleted" ? (
        <DeletedList vault={vault} collection={collection} noun={noun} />
      ) : (
        <>
          {creating ? create(() => setCreating(false)) : null}
          {list}
        </>
      )}
    </>
  );
}
