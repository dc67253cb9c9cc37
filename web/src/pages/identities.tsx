import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../api.ts";
import { useConsole } from "../context.ts";
import {
  Badge,
  Button,
  ConfirmButton,
  Copyable,
  Empty,
  Enabled,
  ErrorBanner,
  Field,
  FormActions,
  ListTable,
  PageHeader,
  Search,
  Section,
  Show,
  Time,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";
import { kindLabel, SmallButton, useIdentities, type IdentityRow } from "./ops.tsx";

/** What creating an identity or rotating its credential answers: the identity and its credential, this once. */
type WithCredential = IdentityRow & { credential: string };

const shellValue = (v: string): string => (/^[A-Za-z0-9_.:/@%+=,-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);

/**
 * The environment a program needs to sign in as this identity, as `lockbox sp create` and
 * `lockbox env` print it: for a service principal, what DefaultAzureCredential's
 * EnvironmentCredential reads (the tenant `adfs` keeps the SDK from Microsoft's instance
 * discovery; this server is the authority); for a managed identity, the endpoint and header.
 */
function envLines(identity: WithCredential, vaultUrl: string | undefined): string {
  const origin = location.origin;
  const env: Array<[string, string]> =
    identity.kind === "sp"
      ? [
          ["AZURE_TENANT_ID", "adfs"],
          ["AZURE_CLIENT_ID", identity.clientId],
          ["AZURE_CLIENT_SECRET", identity.credential],
          ["AZURE_AUTHORITY_HOST", origin],
        ]
      : [
          ["IDENTITY_ENDPOINT", `${origin}/msi/token`],
          ["IDENTITY_HEADER", identity.credential],
        ];
  if (vaultUrl) env.push(["KEYVAULT_URL", vaultUrl]);
  return env.map(([k, v]) => `export ${k}=${shellValue(v)}`).join("\n");
}

/** A read-only field one can select and copy. */
function CopyField({ label, value, multiline }: { label: string; value: string; multiline?: boolean }) {
  return (
    <div class="copy-field">
      <Field label={label}>
        {multiline ? (
          <textarea readOnly rows={value.split("\n").length} value={value} spellcheck={false} onFocus={(e) => e.currentTarget.select()} />
        ) : (
          <input readOnly class="mono" value={value} spellcheck={false} onFocus={(e) => e.currentTarget.select()} />
        )}
      </Field>
      <Copyable text={value} />
    </div>
  );
}

/**
 * A credential just made: shown here once, never stored by the page (it lives in this
 * component's state only, so a reload or leaving the page forgets it) and never again by
 * the server, which keeps only its hash.
 */
function CredentialOnce({ identity, why, onDone }: { identity: WithCredential; why: string; onDone: () => void }) {
  const vaults = useLoad(() => api.vaults().then((r) => r.value), []);
  const vault = vaults.data?.find((v) => v.name === "default") ?? vaults.data?.[0];
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [identity.credential]);
  const sp = identity.kind === "sp";
  return (
    <section class="card credential-once" ref={ref} tabIndex={-1} aria-labelledby="credential-once-title">
      <div class="card-head">
        <h2 id="credential-once-title">
          {why} {identity.name}: its {sp ? "client secret" : "credential"}
        </h2>
        <Button tone="primary" onClick={onDone}>
          I have copied it
        </Button>
      </div>
      <p class="once-warning" role="status">
        <strong>Shown once.</strong> Copy it now: Lockbox keeps only a hash of it, so this page cannot show it again once you leave or
        reload it. If it is lost, rotate the credential for a new one.
      </p>
      {sp ? (
        <div class="grid2">
          <CopyField label="Client id" value={identity.clientId} />
          <CopyField label="Client secret" value={identity.credential} />
        </div>
      ) : (
        <CopyField label="Identity header" value={identity.credential} />
      )}
      <CopyField label="Environment of a program" value={envLines(identity, vault?.url)} multiline />
      <p class="hint">
        {sp
          ? "DefaultAzureCredential signs in with these (EnvironmentCredential). "
          : "DefaultAzureCredential signs in with these (ManagedIdentityCredential). "}
        The program must also trust Lockbox's certificate authority: <code>lockbox env</code> on this machine prints the CA file to use
        (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE).
      </p>
    </section>
  );
}

function CreateForm({ onCreated, onCancel }: { onCreated: (x: WithCredential) => void; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"sp" | "managed">("sp");
  const [admin, setAdmin] = useState(false);
  const action = useAction();
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  return (
    <Section title="New identity">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          let made: WithCredential | undefined;
          const ok = await action.run(async () => {
            made = await api.admin<WithCredential>("POST", "/identities", { name: name.trim(), kind, admin });
          });
          if (ok && made) onCreated(made);
        }}
      >
        <div class="form-row">
          <Field label="Name" hint="Letters, digits and dashes; unique among identities.">
            <input ref={first} required value={name} onInput={(e) => setName(e.currentTarget.value)} autoComplete="off" />
          </Field>
          <Field label="Kind">
            <select value={kind} onChange={(e) => setKind(e.currentTarget.value as "sp" | "managed")}>
              <option value="sp">Service principal (client id and secret)</option>
              <option value="managed">Managed identity (identity header)</option>
            </select>
          </Field>
        </div>
        <label class="check">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} />
          <span>
            Lockbox administrator <span class="muted small">— everything in every vault, and this console's admin pages</span>
          </span>
        </label>
        <FormActions submit="Create" busy={action.busy} error={action.error} onCancel={onCancel} />
      </form>
    </Section>
  );
}

/** Managed identities and service principals: create, disable and enable, rotate the credential, delete. */
export function IdentitiesPage() {
  const { epoch, session } = useConsole();
  const identities = useIdentities([epoch]);
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<{ identity: WithCredential; why: string } | undefined>(undefined);
  const [search, setSearch] = useState("");
  const [kind, setKind] = useState<"" | "sp" | "managed">("");
  const action = useAction();
  const reload = identities.reload;

  const needle = search.trim().toLowerCase();
  const rows = (identities.data ?? []).filter(
    (i) =>
      (!kind || i.kind === kind) &&
      (!needle || i.name.toLowerCase().includes(needle) || i.clientId.includes(needle) || i.id.includes(needle)),
  );
  const { shown: page, pager } = usePages(rows);
  const act = (fn: () => Promise<unknown>) => action.run(fn).then(reload);

  return (
    <>
      <PageHeader
        title="Identities"
        sub="Managed identities and service principals: who may sign in to the vaults and to this console."
        actions={
          // A non-administrator reaching this page sees the refusal, and no button that would be refused too.
          creating || !session.identity.admin ? null : (
            <Button
              tone="primary"
              onClick={() => {
                setShown(undefined);
                setCreating(true);
              }}
            >
              New identity
            </Button>
          )
        }
      />
      {shown ? <CredentialOnce identity={shown.identity} why={shown.why} onDone={() => setShown(undefined)} /> : null}
      {creating ? (
        <CreateForm
          onCancel={() => setCreating(false)}
          onCreated={(x) => {
            setCreating(false);
            setShown({ identity: x, why: "Created" });
            reload();
          }}
        />
      ) : null}
      <ErrorBanner error={action.error} />
      <Show loaded={identities} rows={4}>
        {(all) =>
          all.length === 0 ? (
            <Empty title="No identities yet.">Create a service principal for a program, or a managed identity for a local service.</Empty>
          ) : (
            <>
              <div class="toolbar">
                <Search value={search} onInput={setSearch} label="Search identities" />
                <select aria-label="Show kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as "" | "sp" | "managed")}>
                  <option value="">All kinds</option>
                  <option value="sp">Service principals</option>
                  <option value="managed">Managed identities</option>
                </select>
              </div>
              {rows.length === 0 ? (
                <Empty title="No identity matches." />
              ) : (
                <ListTable
                  class="stack"
                  head={
                    <>
                      <th>Name</th>
                      <th>Kind</th>
                      <th class="hide-narrow">Client id</th>
                      <th>Status</th>
                      <th class="hide-narrow">Created</th>
                      <th>
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </>
                  }
                >
                  {page.map((i) => {
                    const me = i.id === session.identity.id;
                    return (
                      <tr key={i.id}>
                        <td>
                          <strong>{i.name}</strong> {me ? <Badge tone="info">you</Badge> : null}{" "}
                          {i.admin ? <Badge tone="warn">admin</Badge> : null}
                          <div class="muted small mono hide-narrow" title="Object id">
                            {i.id}
                          </div>
                        </td>
                        <td>{kindLabel(i.kind)}</td>
                        <td class="hide-narrow">
                          <code>{i.clientId}</code>
                        </td>
                        <td>
                          <Enabled enabled={i.enabled} />
                        </td>
                        <td class="hide-narrow">
                          <Time s={i.created} />
                        </td>
                        <td class="actions-cell">
                          {me ? null : i.enabled ? (
                            <SmallButton onClick={() => act(() => api.admin("POST", `/identities/${i.id}/disable`))}>Disable</SmallButton>
                          ) : (
                            <SmallButton onClick={() => act(() => api.admin("POST", `/identities/${i.id}/enable`))}>Enable</SmallButton>
                          )}
                          <ConfirmButton
                            small
                            tone="primary"
                            label="Rotate credential"
                            title={`Rotate the credential of ${i.name}`}
                            confirm="Rotate"
                            question={
                              <p>
                                A new {i.kind === "sp" ? "client secret" : "identity header"} is made and shown once; the current one stops
                                working at once, so programs signed in with it fail until they get the new one.
                              </p>
                            }
                            onConfirm={() =>
                              action.run(async () => {
                                const x = await api.admin<WithCredential>("POST", `/identities/${i.id}/rotate`);
                                setCreating(false);
                                setShown({ identity: x, why: "Rotated" });
                                reload();
                              })
                            }
                          />
                          {me ? null : (
                            <ConfirmButton
                              small
                              label="Delete"
                              title={`Delete ${i.name}`}
                              question={
                                <p>
                                  This deletes the {kindLabel(i.kind).toLowerCase()} <strong>{i.name}</strong> with its role assignments and
                                  access policies. Programs that sign in as it stop working. This cannot be undone.
                                </p>
                              }
                              onConfirm={() => act(() => api.admin("DELETE", `/identities/${i.id}`))}
                            />
                          )}
                        </td>
                      </tr>
                    );
                  })}
                </ListTable>
              )}
              {pager}
            </>
          )
        }
      </Show>
    </>
  );
}
