import { useState } from "preact/hooks";
import { api, idParts, type Attributes, type Page } from "../api.ts";
import { useCan, useConsole } from "../context.ts";
import { PolicyForm, PolicySummary, rotationFromPolicy, type PolicyWire } from "../policy.tsx";
import { useInstanceNow, useSchedule } from "./objects.tsx";
import { navigate, seg } from "../router.ts";
import {
  allPages,
  Badge,
  Button,
  ConfirmButton,
  Copyable,
  Empty,
  Enabled,
  ErrorBanner,
  Field,
  Link,
  ListTable,
  Notice,
  objectPath,
  PageHeader,
  parseTags,
  SearchableList,
  Section,
  Show,
  Tags,
  tagsText,
  Time,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";

interface SecretItem {
  id: string;
  attributes: Attributes;
  tags?: Record<string, string>;
  contentType?: string;
  managed?: boolean;
}
interface DeletedSecret extends SecretItem {
  recoveryId: string;
  deletedDate: number;
  scheduledPurgeDate: number;
}
interface SecretBundle extends SecretItem {
  value?: string;
}

const readFile = (file: File): Promise<string> => file.text();

/** Sets a secret (a new version): the value typed, or read from a file; content type and tags. */
function SecretForm({ vault, name: fixedName, done }: { vault: string; name?: string; done: (name: string) => void }) {
  const [name, setName] = useState(fixedName ?? "");
  const [value, setValue] = useState("");
  const [fromFile, setFromFile] = useState<File | undefined>(undefined);
  const [contentType, setContentType] = useState("");
  const [tags, setTags] = useState("");
  const action = useAction();
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        const ok = await action.run(async () => {
          const v = fromFile ? await readFile(fromFile) : value;
          await api.kv("PUT", vault, objectPath("secrets", name), {
            value: v,
            ...(contentType ? { contentType } : {}),
            ...(tags.trim() ? { tags: parseTags(tags) } : {}),
          });
        });
        if (ok) {
          setValue("");
          done(name);
        }
      }}
    >
      <div class="grid2">
        <div>
          {fixedName ? null : (
            <Field label="Secret name" hint="1 to 127 letters, digits and dashes">
              <input name="name" required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
            </Field>
          )}
          <Field label="Value" hint={fromFile ? `From ${fromFile.name} (${fromFile.size} bytes)` : "Or choose a file below"}>
            <textarea
              name="value"
              autoComplete="off"
              spellcheck={false}
              disabled={Boolean(fromFile)}
              value={value}
              onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)}
            />
          </Field>
          <Field label="Value from a file">
            <input type="file" onChange={(e) => setFromFile((e.target as HTMLInputElement).files?.[0])} />
          </Field>
        </div>
        <div>
          <Field label="Content type" hint="Optional, e.g. text/plain or application/json">
            <input value={contentType} onInput={(e) => setContentType((e.target as HTMLInputElement).value)} />
          </Field>
          <Field label="Tags" hint="name=value, separated by commas">
            <input value={tags} onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
          </Field>
        </div>
      </div>
      <ErrorBanner error={action.error} />
      <Button tone="primary" type="submit" busy={action.busy}>
        {fixedName ? "Set new version" : "Create secret"}
      </Button>
    </form>
  );
}

export function SecretsPage({ vault }: { vault: string }) {
  const { epoch } = useConsole();
  const can = useCan(vault);
  const [view, setView] = useState<"active" | "deleted">("active");
  const [creating, setCreating] = useState(false);
  const [round, setRound] = useState(0);
  const secrets = useLoad(
    async () =>
      allPages(await api.kv<Page<SecretItem>>("GET", vault, "/secrets?maxresults=25"), (link) => api.kvNext<Page<SecretItem>>(vault, link)),
    [vault, epoch, round],
  );
  const deleted = useLoad(
    async () =>
      view === "deleted"
        ? allPages(await api.kv<Page<DeletedSecret>>("GET", vault, "/deletedsecrets?maxresults=25"), (link) =>
            api.kvNext<Page<DeletedSecret>>(vault, link),
          )
        : [],
    [vault, epoch, round, view],
  );
  return (
    <>
      <PageHeader
        title="Secrets"
        sub={`Vault ${vault}`}
        actions={
          can("SecretSet") ? (
            <Button tone="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
              {creating ? "Close" : "New secret"}
            </Button>
          ) : null
        }
      />
      {creating ? (
        <Section title="New secret">
          <SecretForm
            vault={vault}
            done={(name) => {
              setCreating(false);
              setRound((r) => r + 1);
              navigate(`/vaults/${seg(vault)}/secrets/${seg(name)}`);
            }}
          />
        </Section>
      ) : null}
      <div class="toolbar" role="group" aria-label="Show">
        <Button tone={view === "active" ? "primary" : "plain"} aria-pressed={view === "active"} onClick={() => setView("active")}>
          Secrets
        </Button>
        {can("SecretListDeleted") ? (
          <Button tone={view === "deleted" ? "primary" : "plain"} aria-pressed={view === "deleted"} onClick={() => setView("deleted")}>
            Deleted
          </Button>
        ) : null}
      </div>
      {view === "active" ? (
        <SearchableList
          loaded={secrets}
          nameOf={(s) => idParts(s.id).name}
          extraMatch={(s) => s.contentType}
          label="Secrets"
          noun="secret"
          emptyHint="Create one with New secret."
          head={
            <>
              <th>Name</th>
              <th>Status</th>
              <th class="hide-narrow">Content type</th>
              <th class="hide-narrow">Tags</th>
              <th>Updated</th>
            </>
          }
          row={(s, name) => (
            <tr key={s.id}>
              <td>
                <Link to={`/vaults/${seg(vault)}/secrets/${seg(name)}`}>{name}</Link>
                {s.managed ? (
                  <>
                    {" "}
                    <Badge tone="info">certificate</Badge>
                  </>
                ) : null}
              </td>
              <td>
                <Enabled enabled={s.attributes.enabled} />
              </td>
              <td class="hide-narrow">{s.contentType ?? <span class="muted">—</span>}</td>
              <td class="hide-narrow">
                <Tags tags={s.tags} />
              </td>
              <td>
                <Time s={s.attributes.updated} />
              </td>
            </tr>
          )}
        />
      ) : (
        <DeletedSecrets vault={vault} list={deleted} changed={() => setRound((r) => r + 1)} />
      )}
    </>
  );
}

function DeletedSecrets({
  vault,
  list,
  changed,
}: {
  vault: string;
  list: ReturnType<typeof useLoad<DeletedSecret[]>>;
  changed: () => void;
}) {
  const action = useAction();
  const can = useCan(vault);
  const { shown, pager } = usePages(list.data ?? []);
  return (
    <>
      <ErrorBanner error={action.error} />
      <Show loaded={list}>
        {(all) =>
          all.length === 0 ? (
            <Empty title="No deleted secrets.">
              Deleted secrets wait here until their retention ends, and can be recovered until then.
            </Empty>
          ) : (
            <>
              <ListTable
                label="Deleted secrets"
                head={
                  <>
                    <th>Name</th>
                    <th>Deleted</th>
                    <th class="hide-narrow">Purged on</th>
                    <th />
                  </>
                }
              >
                {shown.map((s) => {
                  const { name } = idParts(s.id);
                  return (
                    <tr key={s.id}>
                      <td>{name}</td>
                      <td>
                        <Time s={s.deletedDate} />
                      </td>
                      <td class="hide-narrow">
                        <Time s={s.scheduledPurgeDate} />
                      </td>
                      <td class="actions-cell">
                        {can("SecretRecover") ? (
                          <Button
                            tone="ghost"
                            onClick={async () => {
                              if (await action.run(() => api.kv("POST", vault, `/deletedsecrets/${encodeURIComponent(name)}/recover`)))
                                changed();
                            }}
                          >
                            Recover
                          </Button>
                        ) : null}{" "}
                        {can("SecretPurge") ? (
                          <ConfirmButton
                            label="Purge"
                            small
                            question={<p>Purge {name} for good? It cannot be recovered afterwards.</p>}
                            onConfirm={async () => {
                              if (await action.run(() => api.kv("DELETE", vault, `/deletedsecrets/${encodeURIComponent(name)}`))) changed();
                            }}
                          />
                        ) : null}
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

/** One version's value, fetched only when asked (a getSecret, audited as such) and dropped when hidden. */
function ValueCell({ vault, name, version }: { vault: string; name: string; version: string }) {
  const [value, setValue] = useState<string | undefined>(undefined);
  const action = useAction();
  const can = useCan(vault);
  if (!can("SecretGet")) return <span class="muted">not allowed</span>;
  if (value !== undefined)
    return (
      <div>
        <div class="secret-value" data-testid="secret-value">
          {value}
        </div>
        <div class="actions">
          <Copyable text={value} />
          <Button tone="ghost" class="small" onClick={() => setValue(undefined)}>
            Hide
          </Button>
        </div>
      </div>
    );
  return (
    <>
      <Button
        tone="ghost"
        busy={action.busy}
        onClick={() =>
          action.run(async () => setValue((await api.kv<SecretBundle>("GET", vault, objectPath("secrets", name, version))).value ?? ""))
        }
      >
        Show value
      </Button>
      <ErrorBanner error={action.error} />
    </>
  );
}

export function SecretPage({ vault, name }: { vault: string; name: string }) {
  const { session, epoch } = useConsole();
  const can = useCan(vault);
  const admin = session.identity.admin;
  const [round, setRound] = useState(0);
  const reload = () => setRound((r) => r + 1);
  const versions = useLoad(
    async () =>
      (
        await allPages(await api.kv<Page<SecretItem>>("GET", vault, `${objectPath("secrets", name)}/versions?maxresults=25`), (link) =>
          api.kvNext<Page<SecretItem>>(vault, link),
        )
      )
        // The data plane lists versions oldest first: newest first here, the current one on top.
        .reverse(),
    [vault, name, epoch, round],
  );
  const action = useAction();
  const [notice, setNotice] = useState("");
  const [adding, setAdding] = useState(false);
  const { shown, pager } = usePages(versions.data ?? [], 10);
  const setEnabled = async (version: string, enabled: boolean) => {
    setNotice("");
    if (await action.run(() => api.kv("PATCH", vault, objectPath("secrets", name, version), { attributes: { enabled } }))) {
      setNotice(`Version ${version.slice(0, 8)}… is now ${enabled ? "enabled" : "disabled"}.`);
      reload();
    }
  };
  return (
    <>
      <PageHeader
        title={name}
        sub={
          <>
            Secret in <Link to={`/vaults/${seg(vault)}/secrets`}>{vault}</Link>
          </>
        }
        actions={
          <>
            {can("SecretSet") ? (
              <Button tone="primary" onClick={() => setAdding(!adding)} aria-expanded={adding}>
                {adding ? "Close" : "New version"}
              </Button>
            ) : null}
            {can("SecretDelete") ? (
              <ConfirmButton
                label="Delete secret"
                question={<p>Delete {name}? It can be recovered from Deleted until its retention ends (unless purged).</p>}
                confirm="Delete"
                onConfirm={async () => {
                  if (await action.run(() => api.kv("DELETE", vault, objectPath("secrets", name))))
                    navigate(`/vaults/${seg(vault)}/secrets`);
                }}
              />
            ) : null}
          </>
        }
      />
      {notice ? <Notice>{notice}</Notice> : null}
      <ErrorBanner error={action.error} />
      {adding ? (
        <Section title="New version">
          <SecretForm
            vault={vault}
            name={name}
            done={() => {
              setAdding(false);
              setNotice("A new version was set.");
              reload();
            }}
          />
        </Section>
      ) : null}
      {/* The newest version's properties come from the list: a disabled one cannot be read (403, as in Azure). */}
      <Show loaded={versions}>
        {(all) => (all[0] ? <CurrentVersion key={all[0].id} vault={vault} name={name} secret={all[0]} saved={reload} /> : null)}
      </Show>
      <Section title="Versions">
        <Show loaded={versions}>
          {(all) => (
            <>
              <ListTable
                label="Versions"
                head={
                  <>
                    <th>Version</th>
                    <th>Status</th>
                    <th class="hide-narrow">Created</th>
                    <th class="hide-narrow">Expires</th>
                    <th>Value</th>
                    <th />
                  </>
                }
              >
                {shown.map((v) => {
                  const version = idParts(v.id).version ?? "";
                  return (
                    <tr key={v.id} data-version={version}>
                      <td>
                        <code title={version}>{version.slice(0, 12)}…</code>
                        {all[0]?.id === v.id ? (
                          <>
                            {" "}
                            <Badge tone="info">current</Badge>
                          </>
                        ) : null}
                      </td>
                      <td>
                        <Enabled enabled={v.attributes.enabled} />
                      </td>
                      <td class="hide-narrow">
                        <Time s={v.attributes.created} />
                      </td>
                      <td class="hide-narrow">
                        <Time s={v.attributes.exp} empty="never" />
                      </td>
                      <td>
                        <ValueCell key={`${version}-${round}`} vault={vault} name={name} version={version} />
                      </td>
                      <td class="actions-cell">
                        {v.managed || !can("SecretUpdate") ? null : v.attributes.enabled === false ? (
                          <Button tone="ghost" onClick={() => setEnabled(version, true)}>
                            Enable
                          </Button>
                        ) : (
                          <Button tone="ghost" onClick={() => setEnabled(version, false)}>
                            Disable
                          </Button>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </ListTable>
              {pager}
            </>
          )}
        </Show>
      </Section>
      {admin ? <SecretRotation vault={vault} name={name} current={versions.data?.[0]} changed={reload} round={round} /> : null}
      {admin ? <Prune vault={vault} name={name} count={versions.data?.length} pruned={reload} /> : null}
    </>
  );
}

/** The current version's content type and tags, editable (an updateSecret). */
function CurrentVersion({ vault, name, secret, saved }: { vault: string; name: string; secret: SecretItem; saved: () => void }) {
  const [contentType, setContentType] = useState(secret.contentType ?? "");
  const [tags, setTags] = useState(tagsText(secret.tags));
  const [editing, setEditing] = useState(false);
  const action = useAction();
  const can = useCan(vault);
  const version = idParts(secret.id).version ?? "";
  return (
    <Section
      title="Current version"
      actions={
        secret.managed || !can("SecretUpdate") ? null : (
          <Button tone="ghost" onClick={() => setEditing(!editing)} aria-expanded={editing}>
            {editing ? "Cancel" : "Edit tags and content type"}
          </Button>
        )
      }
    >
      {editing ? (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            if (
              await action.run(() => api.kv("PATCH", vault, objectPath("secrets", name, version), { contentType, tags: parseTags(tags) }))
            ) {
              setEditing(false);
              saved();
            }
          }}
        >
          <div class="grid2">
            <Field label="Content type">
              <input value={contentType} onInput={(e) => setContentType((e.target as HTMLInputElement).value)} />
            </Field>
            <Field label="Tags" hint="name=value, separated by commas">
              <input value={tags} onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
            </Field>
          </div>
          <ErrorBanner error={action.error} />
          <Button tone="primary" type="submit" busy={action.busy}>
            Save
          </Button>
        </form>
      ) : (
        <dl class="props">
          <dt>Id</dt>
          <dd>
            <code>{secret.id}</code> <Copyable text={secret.id} label="Copy id" />
          </dd>
          <dt>Status</dt>
          <dd>
            <Enabled enabled={secret.attributes.enabled} />
          </dd>
          <dt>Content type</dt>
          <dd>{secret.contentType ?? <span class="muted">none</span>}</dd>
          <dt>Tags</dt>
          <dd>
            <Tags tags={secret.tags} />
          </dd>
          <dt>Created</dt>
          <dd>
            <Time s={secret.attributes.created} />
          </dd>
          <dt>Not before</dt>
          <dd>
            <Time s={secret.attributes.nbf} empty="—" />
          </dd>
          <dt>Expires</dt>
          <dd>
            <Time s={secret.attributes.exp} empty="never" />
          </dd>
          <dt>Recovery</dt>
          <dd>
            {secret.attributes.recoveryLevel} ({secret.attributes.recoverableDays} days)
          </dd>
        </dl>
      )}
    </Section>
  );
}

/** Lockbox's secret rotation: the policy (admin API), what the scheduler will do next, and "rotate now". */
function SecretRotation({
  vault,
  name,
  current,
  changed,
  round,
}: {
  vault: string;
  name: string;
  current: SecretItem | undefined;
  changed: () => void;
  round: number;
}) {
  const { epoch } = useConsole();
  const path = `/vaults/${seg(vault)}/secrets/${seg(name)}`;
  const [saves, setSaves] = useState(0);
  const policy = useLoad(() => api.admin<PolicyWire>("GET", `${path}/rotationpolicy`), [vault, name, epoch, saves]);
  const schedule = useSchedule(vault, "secret", name, [saves, round]);
  const now = useInstanceNow();
  const [editing, setEditing] = useState(false);
  const action = useAction();
  return (
    <Section
      title="Rotation"
      actions={
        <>
          {editing ? null : (
            <Button tone="ghost" onClick={() => setEditing(true)}>
              Edit policy
            </Button>
          )}
          <ConfirmButton
            label="Rotate now"
            tone="primary"
            question={<p>Make a new version of {name} with a generated value now?</p>}
            confirm="Rotate"
            onConfirm={async () => {
              if (await action.run(() => api.admin("POST", `${path}/rotate`))) changed();
            }}
          />
        </>
      }
    >
      <ErrorBanner error={action.error} />
      <Show loaded={policy}>
        {(p) =>
          editing ? (
            <PolicyForm
              policy={p}
              secret
              save={(body) => api.admin("PUT", `${path}/rotationpolicy`, body)}
              onCancel={() => setEditing(false)}
              onSaved={() => {
                setEditing(false);
                setSaves((n) => n + 1);
              }}
            />
          ) : (
            <PolicySummary policy={p} now={now} schedule={schedule} computed={rotationFromPolicy(p, current)} noun="secret" />
          )
        }
      </Show>
    </Section>
  );
}

/** Lockbox's version pruning: keep the newest N versions, the rest are removed for good. */
function Prune({ vault, name, count, pruned }: { vault: string; name: string; count: number | undefined; pruned: () => void }) {
  const [keep, setKeep] = useState("5");
  const action = useAction();
  const [result, setResult] = useState("");
  return (
    <Section title="Prune versions">
      <p class="muted">
        Removes old versions for good (Lockbox's addition; Azure keeps every version). The current version is always kept.
      </p>
      <div class="toolbar">
        <Field label="Keep the newest">
          <input type="number" min={1} value={keep} onInput={(e) => setKeep((e.target as HTMLInputElement).value)} />
        </Field>
        <ConfirmButton
          label="Prune"
          question={
            <p>
              Keep the newest {keep} of {count ?? "the"} versions of {name} and remove the others for good?
            </p>
          }
          onConfirm={async () => {
            setResult("");
            let n = 0;
            if (
              await action.run(async () => {
                n = (
                  await api.admin<{ pruned: string[] }>("POST", `/vaults/${seg(vault)}/secrets/${seg(name)}/prune`, { keep: Number(keep) })
                ).pruned.length;
              })
            ) {
              setResult(`${n} version${n === 1 ? "" : "s"} pruned.`);
              pruned();
            }
          }}
        />
      </div>
      {result ? <Notice>{result}</Notice> : null}
      <ErrorBanner error={action.error} />
    </Section>
  );
}
