// The keys of a vault (data plane, as the signed-in identity): the list and its deleted keys,
// a new key, and one key's versions, public JWK, rotation and rotation policy.
import { useEffect, useState } from "preact/hooks";
import { PolicyForm, PolicySummary, rotationFromPolicy, type PolicyWire } from "../policy.tsx";
import { api, idParts, type Attributes } from "../api.ts";
import { useCan, useConsole } from "../context.ts";
import { navigate, seg } from "../router.ts";
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
  Link,
  ListTable,
  Loading,
  Notice,
  objectPath,
  PageHeader,
  parseTags,
  SearchableList,
  Section,
  Show,
  Tags,
  Time,
  type Loaded,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";
import { CollectionPage, KEY_TYPES, listAll, useInstanceNow, useSchedule, VersionId } from "./objects.tsx";

interface KeyItem {
  kid: string;
  attributes: Attributes;
  tags?: Record<string, string>;
  managed?: boolean;
}

interface Jwk {
  kid: string;
  kty: string;
  key_ops?: string[];
  n?: string;
  e?: string;
  crv?: string;
  x?: string;
  y?: string;
  [field: string]: unknown;
}

interface KeyBundle {
  key: Jwk;
  attributes: Attributes & { exportable?: boolean };
  tags?: Record<string, string>;
  managed?: boolean;
}

/** The fields of a JWK that are private; the console never shows them (the data plane sends none). */
const PRIVATE_JWK = new Set(["d", "p", "q", "dp", "dq", "qi", "k"]);

/** The public half of a JWK, in the order one reads it. */
function publicJwk(jwk: Jwk): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(jwk)) if (!PRIVATE_JWK.has(k) && v !== undefined) out[k] = v;
  return out;
}

/** "RSA 2048", "EC P-256": the modulus length from n, the curve from crv. */
function keyType(jwk: Jwk): string {
  if (jwk.kty.startsWith("RSA") && jwk.n) {
    const b64 = jwk.n.replace(/=+$/, "");
    const bytes = Math.floor((b64.length * 3) / 4);
    return `${jwk.kty} ${bytes * 8}`;
  }
  if (jwk.kty.startsWith("EC") && jwk.crv) return `${jwk.kty} ${jwk.crv}`;
  return jwk.kty;
}

const keyPath = (name: string, version?: string) => objectPath("keys", name, version);
const keyPage = (vault: string, name: string) => `/vaults/${seg(vault)}/keys/${seg(name)}`;

// ---- The list ----

export function KeysPage({ vault }: { vault: string }) {
  return (
    <CollectionPage
      vault={vault}
      title="Keys"
      collection="keys"
      noun="key"
      createOperation="KeyCreate"
      create={(close) => <CreateKey vault={vault} onCancel={close} />}
      list={<KeyList vault={vault} />}
    />
  );
}

function KeyList({ vault }: { vault: string }) {
  const { epoch } = useConsole();
  const list = useLoad(() => listAll<KeyItem>(vault, "/keys"), [vault, epoch]);
  return (
    <SearchableList
      loaded={list}
      nameOf={(k) => idParts(k.kid).name}
      label="Keys"
      noun="key"
      emptyHint="Create one with New key; the SDKs' createKey makes them too."
      head={
        <>
          <th>Name</th>
          <th>Type</th>
          <th>Status</th>
          <th class="hide-narrow">Expires</th>
          <th class="hide-narrow">Updated</th>
        </>
      }
      row={(k, name) => <KeyRow key={k.kid} vault={vault} item={k} name={name} />}
    />
  );
}

/** A row of the list; its type comes from the key itself (a list item carries none), read for the rows shown. */
function KeyRow({ vault, item, name }: { vault: string; item: KeyItem; name: string }) {
  const bundle = useLoad(() => api.kv<KeyBundle>("GET", vault, keyPath(name)), [vault, name, item.attributes.updated]);
  return (
    <tr>
      <td>
        <Link to={keyPage(vault, name)}>
          <strong>{name}</strong>
        </Link>
        {item.managed ? (
          <>
            {" "}
            <Badge tone="info">certificate</Badge>
          </>
        ) : null}
      </td>
      <td class="key-type">
        {bundle.data ? keyType(bundle.data.key) : bundle.error ? <span class="muted">—</span> : <span class="muted">…</span>}
      </td>
      <td>
        <Enabled enabled={item.attributes.enabled} />
      </td>
      <td class="hide-narrow">
        <Time s={item.attributes.exp} empty="never" />
      </td>
      <td class="hide-narrow">
        <Time s={item.attributes.updated} />
      </td>
    </tr>
  );
}

function CreateKey({ vault, onCancel }: { vault: string; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [type, setType] = useState(KEY_TYPES[0]!.label);
  const [expires, setExpires] = useState("");
  const [tags, setTags] = useState("");
  const action = useAction();
  return (
    <Section title="New key">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const t = KEY_TYPES.find((k) => k.label === type)!;
          const exp = expires ? Math.floor(new Date(expires).getTime() / 1000) : undefined;
          const ok = await action.run(() =>
            api.kv("POST", vault, `${keyPath(name)}/create`, {
              kty: t.kty,
              ...(t.size ? { key_size: t.size } : {}),
              ...(t.crv ? { crv: t.crv } : {}),
              ...(exp ? { attributes: { exp } } : {}),
              ...(tags.trim() ? { tags: parseTags(tags) } : {}),
            }),
          );
          if (ok) navigate(keyPage(vault, name));
        }}
      >
        <div class="grid2">
          <Field label="Name" hint="Letters, digits and dashes, up to 127.">
            <input
              name="name"
              required
              pattern="[0-9A-Za-z\-]{1,127}"
              autoComplete="off"
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
          </Field>
          <Field label="Key type">
            <select value={type} onChange={(e) => setType((e.target as HTMLSelectElement).value)}>
              {KEY_TYPES.map((k) => (
                <option key={k.label} value={k.label}>
                  {k.label}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Expires" hint="Optional, in your time zone. Blank: the key does not expire.">
            <input type="datetime-local" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
          </Field>
          <Field label="Tags" hint="Optional: team=payments, env=test">
            <input value={tags} autoComplete="off" onInput={(e) => setTags((e.target as HTMLInputElement).value)} />
          </Field>
        </div>
        <FormActions submit="Create key" busy={action.busy} error={action.error} onCancel={onCancel} />
      </form>
    </Section>
  );
}

// ---- One key ----

export function KeyPage({ vault, name }: { vault: string; name: string }) {
  const { epoch } = useConsole();
  const [round, setRound] = useState(0);
  const deps = [vault, name, epoch, round];
  const key = useLoad(() => api.kv<KeyBundle>("GET", vault, keyPath(name)), deps);
  const can = useCan(vault);
  const versions = useLoad(() => listAll<KeyItem>(vault, `${keyPath(name)}/versions`), deps);
  const policy = useLoad(() => api.kv<PolicyWire>("GET", vault, `${keyPath(name)}/rotationpolicy`), deps);
  const action = useAction();
  const [done, setDone] = useState<string | undefined>(undefined);
  const reload = () => setRound((r) => r + 1);
  // A notice is about the last click: once the clock moves (the scheduler may have acted), it goes.
  useEffect(() => setDone(undefined), [vault, name, epoch]);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setDone(undefined);
    if (await action.run(fn)) {
      setDone(what);
      reload();
    }
  };
  const managed = key.data?.managed === true;
  const back = (
    <Link to={`/vaults/${seg(vault)}/keys`} class="back">
      ← Keys
    </Link>
  );

  if (key.error) {
    return (
      <>
        {back}
        <PageHeader title={name} sub={`Key in ${vault}`} />
        <ErrorBanner error={key.error} />
      </>
    );
  }
  const current = key.data ? idParts(key.data.key.kid).version : undefined;
  return (
    <>
      {back}
      <PageHeader
        title={name}
        sub={
          <>
            Key in {vault}
            {key.data ? <> · {keyType(key.data.key)}</> : null}
          </>
        }
        actions={
          key.data && !managed ? (
            <>
              {can("KeyRotate") ? (
                <Button
                  tone="primary"
                  busy={action.busy}
                  onClick={() => act("A new version is the current one.", () => api.kv("POST", vault, `${keyPath(name)}/rotate`))}
                >
                  Rotate now
                </Button>
              ) : null}
              {can("KeyDelete") ? (
                <ConfirmButton
                  label="Delete key"
                  title={`Delete ${name}?`}
                  question={
                    <p>
                      The key and all its versions move to the deleted keys, where they can be recovered until the purge date. Programs
                      using it will get 404.
                    </p>
                  }
                  confirm="Delete"
                  onConfirm={async () => {
                    if (await action.run(() => api.kv("DELETE", vault, keyPath(name)))) navigate(`/vaults/${seg(vault)}/keys?view=deleted`);
                  }}
                />
              ) : null}
            </>
          ) : null
        }
      />
      <ErrorBanner error={action.error} />
      {done ? <Notice>{done}</Notice> : null}
      {managed ? (
        <div class="banner info" role="note">
          This key belongs to the certificate{" "}
          <Link to={`/vaults/${seg(vault)}/certificates/${seg(name)}`}>
            <strong>{name}</strong>
          </Link>
          : Key Vault manages its lifetime, so it is rotated, disabled and deleted with the certificate.
        </div>
      ) : null}
      {key.data ? (
        <div class="grid2">
          <CurrentVersion bundle={key.data} />
          <PublicKey jwk={key.data.key} />
        </div>
      ) : (
        <Loading rows={4} />
      )}
      {!managed ? (
        <RotationPolicyCard vault={vault} name={name} policy={policy} versions={versions} current={current} onSaved={reload} />
      ) : null}
      <Section title="Versions">
        <Show loaded={versions}>
          {(list) => (
            <VersionTable
              items={list}
              current={current}
              managed={managed || !can("KeyUpdate")}
              busy={action.busy}
              onToggle={(version, enabled) =>
                act(`Version ${version.slice(0, 12)} is ${enabled ? "enabled" : "disabled"}.`, () =>
                  api.kv("PATCH", vault, keyPath(name, version), { attributes: { enabled } }),
                )
              }
            />
          )}
        </Show>
      </Section>
    </>
  );
}

function CurrentVersion({ bundle }: { bundle: KeyBundle }) {
  const a = bundle.attributes;
  return (
    <Section title="Current version">
      <dl class="props">
        <dt>Version</dt>
        <dd>
          <code>{idParts(bundle.key.kid).version}</code>
        </dd>
        <dt>Status</dt>
        <dd>
          <Enabled enabled={a.enabled} />
        </dd>
        <dt>Type</dt>
        <dd>{keyType(bundle.key)}</dd>
        <dt>Operations</dt>
        <dd>{bundle.key.key_ops?.length ? bundle.key.key_ops.join(", ") : <span class="muted">none</span>}</dd>
        <dt>Created</dt>
        <dd>
          <Time s={a.created} />
        </dd>
        <dt>Updated</dt>
        <dd>
          <Time s={a.updated} />
        </dd>
        <dt>Not before</dt>
        <dd>
          <Time s={a.nbf} empty="any time" />
        </dd>
        <dt>Expires</dt>
        <dd>
          <Time s={a.exp} empty="never" />
        </dd>
        <dt>Tags</dt>
        <dd>
          <Tags tags={bundle.tags} />
        </dd>
        <dt>Key id</dt>
        <dd>
          <code>{bundle.key.kid}</code> <Copyable text={bundle.key.kid} label="Copy id" />
        </dd>
      </dl>
    </Section>
  );
}

function PublicKey({ jwk }: { jwk: Jwk }) {
  const text = JSON.stringify(publicJwk(jwk), null, 2);
  return (
    <Section title="Public key (JWK)" actions={<Copyable text={text} label="Copy JWK" />}>
      <pre class="json" aria-label="Public key as a JWK">
        {text}
      </pre>
      <p class="hint">The public half only: the private key never leaves the vault.</p>
    </Section>
  );
}

function VersionTable({
  items,
  current,
  managed,
  busy,
  onToggle,
}: {
  items: KeyItem[];
  current: string | undefined;
  /** A certificate's key, or one the identity may not update: no enable/disable. */
  managed: boolean;
  busy: boolean;
  onToggle: (version: string, enabled: boolean) => void;
}) {
  const sorted = [...items].sort((a, b) => (b.attributes.created ?? 0) - (a.attributes.created ?? 0));
  const { shown, pager } = usePages(sorted);
  if (!sorted.length) return <Empty title="No versions." />;
  return (
    <>
      <p class="muted small" aria-live="polite">
        {sorted.length === 1 ? "1 version" : `${sorted.length} versions`}, newest first.
      </p>
      <ListTable
        label="Versions"
        head={
          <>
            <th>Version</th>
            <th>Status</th>
            <th class="hide-narrow">Created</th>
            <th class="hide-narrow">Updated</th>
            <th class="hide-narrow">Not before</th>
            <th class="hide-narrow">Expires</th>
            {!managed ? (
              <th>
                <span class="visually-hidden">Actions</span>
              </th>
            ) : null}
          </>
        }
      >
        {shown.map((v) => {
          const version = idParts(v.kid).version ?? "";
          const enabled = v.attributes.enabled !== false;
          return (
            <tr key={v.kid} data-version={version}>
              <td>
                <VersionId version={version} current={version === current} />
              </td>
              <td>
                <Enabled enabled={v.attributes.enabled} />
              </td>
              <td class="hide-narrow">
                <Time s={v.attributes.created} />
              </td>
              <td class="hide-narrow">
                <Time s={v.attributes.updated} />
              </td>
              <td class="hide-narrow">
                <Time s={v.attributes.nbf} />
              </td>
              <td class="hide-narrow">
                <Time s={v.attributes.exp} empty="never" />
              </td>
              {!managed ? (
                <td class="actions-cell">
                  <button
                    type="button"
                    class={enabled ? "btn small danger-ghost" : "btn small"}
                    disabled={busy}
                    aria-label={`${enabled ? "Disable" : "Enable"} version ${version}`}
                    onClick={() => onToggle(version, !enabled)}
                  >
                    {enabled ? "Disable" : "Enable"}
                  </button>
                </td>
              ) : null}
            </tr>
          );
        })}
      </ListTable>
      {pager}
    </>
  );
}

// ---- Rotation policy ----

function RotationPolicyCard({
  vault,
  name,
  policy,
  versions,
  current,
  onSaved,
}: {
  vault: string;
  name: string;
  policy: Loaded<PolicyWire>;
  versions: Loaded<KeyItem[]>;
  current: string | undefined;
  onSaved: () => void;
}) {
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState(false);
  const { epoch } = useConsole();
  const can = useCan(vault);
  useEffect(() => setSaved(false), [vault, name, epoch]);
  const schedule = useSchedule(vault, "key", name, [policy.data, current]);
  const now = useInstanceNow();
  return (
    <Section
      title="Rotation policy"
      actions={
        policy.data && !editing && can("KeyUpdateRotationPolicy") ? (
          <Button
            onClick={() => {
              setSaved(false);
              setEditing(true);
            }}
          >
            Edit policy
          </Button>
        ) : null
      }
    >
      {saved ? <Notice>The rotation policy is saved.</Notice> : null}
      <Show loaded={policy} rows={2}>
        {(p) =>
          editing ? (
            <PolicyForm
              policy={p}
              save={(body) => api.kv("PUT", vault, `${keyPath(name)}/rotationpolicy`, body)}
              onCancel={() => setEditing(false)}
              onSaved={() => {
                setEditing(false);
                setSaved(true);
                onSaved();
              }}
            />
          ) : (
            <PolicySummary
              policy={p}
              now={now}
              schedule={schedule}
              computed={rotationFromPolicy(
                p,
                versions.data?.find((v) => idParts(v.kid).version === current),
              )}
            />
          )
        }
      </Show>
    </Section>
  );
}
