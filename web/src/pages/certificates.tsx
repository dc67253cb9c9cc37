// The certificates of a vault (data plane, as the signed-in identity): the list and its
// deleted certificates, a new certificate from a simple policy, and one certificate's
// versions, subject and validity, downloads, policy and pending operation.
import { useEffect, useState } from "preact/hooks";
import { ApiError, api, idParts, type Attributes } from "../api.ts";
import { useConsole, useCan } from "../context.ts";
import { navigate, seg } from "../router.ts";
import {
  Badge,
  Button,
  ConfirmButton,
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
  relative,
  SearchableList,
  Section,
  Show,
  Tags,
  Time,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";
import {
  base64Bytes,
  CollectionPage,
  download,
  hexPairs,
  KEY_TYPES,
  listAll,
  pem,
  ScheduleTimeline,
  useInstanceNow,
  useSchedule,
  VersionId,
} from "./objects.tsx";

interface CertificateItem {
  id: string;
  x5t?: string;
  attributes: Attributes;
  tags?: Record<string, string>;
}

interface PolicyWire {
  id?: string;
  key_props?: { exportable?: boolean; kty?: string; key_size?: number; reuse_key?: boolean; crv?: string };
  secret_props?: { contentType?: string };
  x509_props?: {
    subject?: string;
    sans?: { emails?: string[]; dns_names?: string[]; upns?: string[]; ipAddresses?: string[]; uris?: string[] };
    ekus?: string[];
    key_usage?: string[];
    validity_months?: number;
  };
  lifetime_actions?: Array<{ trigger?: { lifetime_percentage?: number; days_before_expiry?: number }; action?: { action_type?: string } }>;
  issuer?: { name?: string; cty?: string; cert_transparency?: boolean };
  attributes?: { enabled?: boolean; created?: number; updated?: number };
}

interface CertificateBundle extends CertificateItem {
  kid?: string;
  sid?: string;
  cer?: string;
  policy?: PolicyWire;
}

interface OperationWire {
  id: string;
  issuer?: { name?: string };
  csr?: string;
  cancellation_requested?: boolean;
  status: string;
  status_details?: string;
  error?: { code?: string; message?: string };
  target?: string;
  request_id?: string;
}

const certPath = (name: string, version?: string) => objectPath("certificates", name, version);
const certPage = (vault: string, name: string) => `/vaults/${seg(vault)}/certificates/${seg(name)}`;

/** The x5t thumbprint (base64url SHA-1) as hex pairs, as certificate viewers show it. */
const thumbprint = (x5t: string | undefined): string | undefined => (x5t ? hexPairs(base64Bytes(x5t)) : undefined);

/** "expires in 20 days" in a tone: bad once expired, warn within 30 days. */
function ExpiryBadge({ exp, now }: { exp: number | undefined; now: number }) {
  if (exp === undefined) return null;
  if (exp <= now) return <Badge tone="bad">expired</Badge>;
  if (exp - now < 30 * 86400) return <Badge tone="warn">expires {relative(exp, now)}</Badge>;
  return null;
}

// ---- The list ----

export function CertificatesPage({ vault }: { vault: string }) {
  return (
    <CollectionPage
      vault={vault}
      title="Certificates"
      collection="certificates"
      noun="certificate"
      createOperation="CertificateCreate"
      create={(close) => <CreateCertificate vault={vault} onCancel={close} />}
      list={<CertificateList vault={vault} />}
    />
  );
}

function CertificateList({ vault }: { vault: string }) {
  const { epoch } = useConsole();
  const list = useLoad(() => listAll<CertificateItem>(vault, "/certificates?includePending=true"), [vault, epoch]);
  const now = useInstanceNow();
  return (
    <SearchableList
      loaded={list}
      nameOf={(c) => idParts(c.id).name}
      label="Certificates"
      noun="certificate"
      emptyHint="Create a self-signed one with New certificate."
      head={
        <>
          <th>Name</th>
          <th>Status</th>
          <th>Expires</th>
          <th class="hide-narrow">Thumbprint</th>
          <th class="hide-narrow">Updated</th>
        </>
      }
      row={(c, name) => (
        <tr key={c.id}>
          <td>
            <Link to={certPage(vault, name)}>
              <strong>{name}</strong>
            </Link>
          </td>
          <td>
            {c.x5t ? <Enabled enabled={c.attributes.enabled} /> : <Badge tone="warn">pending</Badge>}{" "}
            <ExpiryBadge exp={c.attributes.exp} now={now} />
          </td>
          <td>
            <Time s={c.attributes.exp} />
          </td>
          <td class="hide-narrow">
            <code class="small" title={thumbprint(c.x5t)}>
              {thumbprint(c.x5t)?.slice(0, 23) ?? "—"}
            </code>
          </td>
          <td class="hide-narrow">
            <Time s={c.attributes.updated} />
          </td>
        </tr>
      )}
    />
  );
}

/** "a.example.com, b.example.com" or one a line, into DNS names. */
const names = (text: string): string[] =>
  text
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);

function CreateCertificate({ vault, onCancel }: { vault: string; onCancel: () => void }) {
  const [name, setName] = useState("");
  const [subject, setSubject] = useState("CN=");
  const [sans, setSans] = useState("");
  const [months, setMonths] = useState("12");
  const [type, setType] = useState(KEY_TYPES[0]!.label);
  const [issuer, setIssuer] = useState("Self");
  const [contentType, setContentType] = useState("application/x-pkcs12");
  const action = useAction();
  return (
    <Section title="New certificate">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          const t = KEY_TYPES.find((k) => k.label === type)!;
          const dns = names(sans);
          const cn = subject.trim() === "CN=" ? "" : subject.trim();
          const policy = {
            key_props: {
              kty: t.kty,
              ...(t.size ? { key_size: t.size } : {}),
              ...(t.crv ? { crv: t.crv } : {}),
              exportable: true,
              reuse_key: false,
            },
            secret_props: { contentType },
            x509_props: { subject: cn, ...(dns.length ? { sans: { dns_names: dns } } : {}), validity_months: Number(months) },
            issuer: { name: issuer },
          };
          const ok = await action.run(() => api.kv("POST", vault, `${certPath(name)}/create`, { policy }));
          if (ok) navigate(certPage(vault, name));
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
          <Field label="Subject" hint="An X.500 name, e.g. CN=api.example.com, O=Example">
            <input autoComplete="off" value={subject} onInput={(e) => setSubject((e.target as HTMLInputElement).value)} />
          </Field>
          <Field label="DNS names" hint="Subject alternative names, separated by commas or spaces.">
            <input autoComplete="off" value={sans} onInput={(e) => setSans((e.target as HTMLInputElement).value)} />
          </Field>
          <Field label="Validity (months)">
            <input
              type="number"
              min={1}
              max={1200}
              step={1}
              required
              value={months}
              onInput={(e) => setMonths((e.target as HTMLInputElement).value)}
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
          <Field
            label="Issuer"
            hint={issuer === "Self" ? "Signed by its own key, at once." : "A CSR waits to be signed by your CA and merged here."}
          >
            <select value={issuer} onChange={(e) => setIssuer((e.target as HTMLSelectElement).value)}>
              <option value="Self">Self-signed</option>
              <option value="Unknown">Unknown (sign the CSR elsewhere)</option>
            </select>
          </Field>
          <Field label="Secret format" hint="How the certificate's secret holds it with its private key.">
            <select value={contentType} onChange={(e) => setContentType((e.target as HTMLSelectElement).value)}>
              <option value="application/x-pkcs12">PKCS#12 (.pfx)</option>
              <option value="application/x-pem-file">PEM</option>
            </select>
          </Field>
        </div>
        <FormActions submit="Create certificate" busy={action.busy} error={action.error} onCancel={onCancel} />
      </form>
    </Section>
  );
}

// ---- One certificate ----

/** The pending operation, or undefined when there is none (404 PendingCertificateNotFound). */
const pendingOf = (vault: string, name: string) =>
  api.kv<OperationWire>("GET", vault, `${certPath(name)}/pending`).catch((e: unknown) => {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  });

export function CertificatePage({ vault, name }: { vault: string; name: string }) {
  const { epoch } = useConsole();
  const can = useCan(vault);
  const [round, setRound] = useState(0);
  const deps = [vault, name, epoch, round];
  const cert = useLoad(() => api.kv<CertificateBundle>("GET", vault, certPath(name)), deps);
  const versions = useLoad(
    () =>
      listAll<CertificateItem>(vault, `${certPath(name)}/versions`).catch((e: unknown) => {
        // A certificate whose first version still waits has none yet.
        if (e instanceof ApiError && e.status === 404) return [];
        throw e;
      }),
    deps,
  );
  const pending = useLoad(() => pendingOf(vault, name), deps);
  const now = useInstanceNow();
  const action = useAction();
  const [done, setDone] = useState<string | undefined>(undefined);
  const reload = () => setRound((r) => r + 1);
  useEffect(() => setDone(undefined), [vault, name, epoch]);
  const act = async (what: string, fn: () => Promise<unknown>) => {
    setDone(undefined);
    if (await action.run(fn)) {
      setDone(what);
      reload();
    }
  };
  const back = (
    <Link to={`/vaults/${seg(vault)}/certificates`} class="back">
      ← Certificates
    </Link>
  );
  if (cert.error) {
    // Deleting the operation of a certificate that had no version yet leaves nothing of it.
    const gone = done !== undefined && cert.error instanceof ApiError && cert.error.status === 404;
    return (
      <>
        {back}
        <PageHeader title={name} sub={`Certificate in ${vault}`} />
        {gone ? (
          <>
            <Notice>{done}</Notice>
            <Empty title={`${name} is gone.`}>
              It had no version, and its operation is deleted.{" "}
              <Link to={`/vaults/${seg(vault)}/certificates`}>Back to the certificates</Link>
            </Empty>
          </>
        ) : (
          <ErrorBanner error={cert.error} />
        )}
      </>
    );
  }
  const c = cert.data;
  const der = c?.cer ? base64Bytes(c.cer) : undefined;
  const current = c?.id ? idParts(c.id).version : undefined;
  return (
    <>
      {back}
      <PageHeader
        title={name}
        sub={`Certificate in ${vault}`}
        actions={
          c ? (
            <>
              {der ? (
                <>
                  <Button onClick={() => download(`${name}.cer`, "application/pkix-cert", der)}>Download .cer</Button>
                  <Button onClick={() => download(`${name}.pem`, "application/x-pem-file", pem("CERTIFICATE", der))}>Download PEM</Button>
                </>
              ) : null}
              {can("CertificateDelete") ? (
                <ConfirmButton
                  label="Delete certificate"
                  title={`Delete ${name}?`}
                  question={
                    <p>
                      The certificate, its versions and its key and secret move to the deleted certificates, where they can be recovered
                      until the purge date.
                    </p>
                  }
                  confirm="Delete"
                  onConfirm={async () => {
                    if (await action.run(() => api.kv("DELETE", vault, certPath(name))))
                      navigate(`/vaults/${seg(vault)}/certificates?view=deleted`);
                  }}
                />
              ) : null}
            </>
          ) : null
        }
      />
      <ErrorBanner error={action.error} />
      {done ? <Notice>{done}</Notice> : null}
      {!c ? (
        <Loading rows={4} />
      ) : (
        <>
          <div class="grid2">
            <CertificateSummary vault={vault} bundle={c} now={now} />
            <PendingOperation vault={vault} name={name} pending={pending.data} error={pending.error} busy={action.busy} act={act} />
          </div>
          <PolicyCard policy={c.policy} vault={vault} name={name} now={now} />
          <Section title="Versions">
            <Show loaded={versions}>
              {(list) => (
                <VersionTable
                  items={list}
                  current={c.x5t ? current : undefined}
                  now={now}
                  busy={action.busy}
                  onToggle={(version, enabled) =>
                    act(`Version ${version.slice(0, 12)} is ${enabled ? "enabled" : "disabled"}.`, () =>
                      api.kv("PATCH", vault, certPath(name, version), { attributes: { enabled } }),
                    )
                  }
                />
              )}
            </Show>
          </Section>
        </>
      )}
    </>
  );
}

function CertificateSummary({ vault, bundle, now }: { vault: string; bundle: CertificateBundle; now: number }) {
  const a = bundle.attributes;
  const x = bundle.policy?.x509_props;
  const sans = x?.sans;
  const allSans = [
    ...(sans?.dns_names ?? []).map((d) => `DNS: ${d}`),
    ...(sans?.emails ?? []).map((d) => `Email: ${d}`),
    ...(sans?.upns ?? []).map((d) => `UPN: ${d}`),
    ...(sans?.ipAddresses ?? []).map((d) => `IP: ${d}`),
    ...(sans?.uris ?? []).map((d) => `URI: ${d}`),
  ];
  const name = idParts(bundle.id).name;
  return (
    <Section title={bundle.cer ? "Current version" : "Waiting for its issuer"}>
      <dl class="props">
        <dt>Subject</dt>
        <dd data-testid="subject">{x?.subject ? <code>{x.subject}</code> : <span class="muted">none</span>}</dd>
        <dt>Alternative names</dt>
        <dd>
          {allSans.length ? (
            <ul class="plain-list">
              {allSans.map((s) => (
                <li key={s}>
                  <code>{s}</code>
                </li>
              ))}
            </ul>
          ) : (
            <span class="muted">none</span>
          )}
        </dd>
        <dt>Issuer</dt>
        <dd>{bundle.policy?.issuer?.name === "Self" ? "Self-signed" : (bundle.policy?.issuer?.name ?? "—")}</dd>
        <dt>Status</dt>
        <dd>
          {bundle.cer ? <Enabled enabled={a.enabled} /> : <Badge tone="warn">pending</Badge>} <ExpiryBadge exp={a.exp} now={now} />
        </dd>
        <dt>Not before</dt>
        <dd>
          <Time s={a.nbf} />
        </dd>
        <dt>Expires</dt>
        <dd data-testid="expires">
          <Time s={a.exp} />
          {a.exp !== undefined ? <span class="muted small"> ({relative(a.exp, now)})</span> : null}
        </dd>
        <dt>Thumbprint (SHA-1)</dt>
        <dd>
          <code>{thumbprint(bundle.x5t) ?? "—"}</code>
        </dd>
        <dt>Created</dt>
        <dd>
          <Time s={a.created} />
        </dd>
        <dt>Tags</dt>
        <dd>
          <Tags tags={bundle.tags} />
        </dd>
        <dt>Key and secret</dt>
        <dd>
          <Link to={`/vaults/${seg(vault)}/keys/${seg(name)}`}>key {name}</Link> ·{" "}
          <Link to={`/vaults/${seg(vault)}/secrets/${seg(name)}`}>secret {name}</Link>
        </dd>
      </dl>
    </Section>
  );
}

function PendingOperation({
  vault,
  name,
  pending,
  error,
  busy,
  act,
}: {
  vault: string;
  name: string;
  pending: OperationWire | null | undefined;
  error: unknown;
  busy: boolean;
  act: (what: string, fn: () => Promise<unknown>) => Promise<void>;
}) {
  const [merging, setMerging] = useState("");
  const tone = (s: string) => (s === "completed" ? "ok" : s === "inProgress" ? "warn" : s === "failed" ? "bad" : "plain");
  // The CSR matters while the operation waits for a CA to sign it.
  const csr = pending?.csr && pending.status === "inProgress" ? base64Bytes(pending.csr) : undefined;
  return (
    <Section title="Certificate operation">
      {error ? (
        <ErrorBanner error={error} />
      ) : pending === undefined ? (
        <Loading rows={2} />
      ) : pending === null ? (
        <p class="muted">No operation: this certificate's versions are all issued.</p>
      ) : (
        <>
          <dl class="props">
            <dt>Status</dt>
            <dd>
              <Badge tone={tone(pending.status)}>{pending.status === "inProgress" ? "in progress" : pending.status}</Badge>
            </dd>
            <dt>Issuer</dt>
            <dd>{pending.issuer?.name ?? "—"}</dd>
            {pending.status_details ? (
              <>
                <dt>Details</dt>
                <dd>{pending.status_details}</dd>
              </>
            ) : null}
            {pending.error ? (
              <>
                <dt>Error</dt>
                <dd>
                  {pending.error.code}: {pending.error.message}
                </dd>
              </>
            ) : null}
            <dt>Request</dt>
            <dd>
              <code class="small">{pending.request_id}</code>
            </dd>
          </dl>
          <div class="form-actions">
            {csr ? (
              <Button onClick={() => download(`${name}.csr`, "application/pkcs10", pem("CERTIFICATE REQUEST", csr))}>Download CSR</Button>
            ) : null}
            {pending.status === "inProgress" ? (
              <Button
                busy={busy}
                onClick={() =>
                  act("The operation is cancelled.", () =>
                    api.kv("PATCH", vault, `${certPath(name)}/pending`, { cancellation_requested: true }),
                  )
                }
              >
                Cancel operation
              </Button>
            ) : null}
            {pending.status !== "completed" ? (
              <ConfirmButton
                small
                label="Delete operation"
                question={
                  <p>
                    The operation and the key it made for its CSR are removed. A certificate signed for that key can no longer be merged.
                  </p>
                }
                onConfirm={() => act("The operation is deleted.", () => api.kv("DELETE", vault, `${certPath(name)}/pending`))}
              />
            ) : null}
          </div>
          {pending.status === "inProgress" && pending.issuer?.name === "Unknown" ? (
            <form
              class="merge"
              onSubmit={async (e) => {
                e.preventDefault();
                const x5c = merging.includes("-----BEGIN")
                  ? [...merging.matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map((m) =>
                      m[1]!.replace(/\s+/g, ""),
                    )
                  : [merging.replace(/\s+/g, "")];
                await act("The signed certificate is merged.", () => api.kv("POST", vault, `${certPath(name)}/pending/merge`, { x5c }));
              }}
            >
              <Field label="Signed certificate" hint="The certificate your CA signed from the CSR, as PEM (with its chain) or base64 DER.">
                <textarea value={merging} onInput={(e) => setMerging((e.target as HTMLTextAreaElement).value)} required />
              </Field>
              <Button type="submit" busy={busy}>
                Merge
              </Button>
            </form>
          ) : null}
        </>
      )}
    </Section>
  );
}

/** The extended key usages one meets, by their names in RFC 5280. */
const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "Server authentication",
  "1.3.6.1.5.5.7.3.2": "Client authentication",
  "1.3.6.1.5.5.7.3.3": "Code signing",
  "1.3.6.1.5.5.7.3.4": "Email protection",
  "1.3.6.1.5.5.7.3.8": "Time stamping",
  "1.3.6.1.5.5.7.3.9": "OCSP signing",
};

function lifetimeActionText(a: NonNullable<PolicyWire["lifetime_actions"]>[number]): string {
  const what =
    a.action?.action_type === "AutoRenew"
      ? "Renew automatically"
      : a.action?.action_type === "EmailContacts"
        ? "Email the contacts"
        : (a.action?.action_type ?? "—");
  const when =
    a.trigger?.lifetime_percentage !== undefined
      ? `at ${a.trigger.lifetime_percentage}% of its lifetime`
      : a.trigger?.days_before_expiry !== undefined
        ? `${a.trigger.days_before_expiry} days before it expires`
        : "";
  return `${what} ${when}`.trim();
}

function PolicyCard({ policy, vault, name, now }: { policy: PolicyWire | undefined; vault: string; name: string; now: number }) {
  const schedule = useSchedule(vault, "certificate", name, [policy?.attributes?.updated]);
  if (!policy) return null;
  const k = policy.key_props;
  const x = policy.x509_props;
  return (
    <Section title="Policy">
      <div class="grid2">
        <dl class="props">
          <dt>Key</dt>
          <dd>
            {k?.kty ?? "—"} {k?.key_size ?? k?.crv ?? ""}
            {k?.exportable ? " · exportable" : " · not exportable"}
            {k?.reuse_key ? " · reused on renewal" : " · new on renewal"}
          </dd>
          <dt>Secret format</dt>
          <dd>
            {policy.secret_props?.contentType === "application/x-pem-file"
              ? "PEM"
              : policy.secret_props?.contentType === "application/x-pkcs12"
                ? "PKCS#12"
                : (policy.secret_props?.contentType ?? "—")}
          </dd>
          <dt>Validity</dt>
          <dd>{x?.validity_months !== undefined ? `${x.validity_months} months` : "—"}</dd>
          <dt>Key usage</dt>
          <dd>{x?.key_usage?.length ? x.key_usage.join(", ") : <span class="muted">none</span>}</dd>
          <dt>Extended key usage</dt>
          <dd>
            {x?.ekus?.length ? (
              <ul class="plain-list">
                {x.ekus.map((e) => (
                  <li key={e}>
                    {EKU_NAMES[e] ?? "Other"} <code class="muted small">{e}</code>
                  </li>
                ))}
              </ul>
            ) : (
              <span class="muted">none</span>
            )}
          </dd>
          <dt>Lifetime</dt>
          <dd>
            {policy.lifetime_actions?.length ? policy.lifetime_actions.map(lifetimeActionText).join("; ") : <span class="muted">none</span>}
          </dd>
          <dt>Issuer</dt>
          <dd>
            {policy.issuer?.name ?? "—"}
            {policy.issuer?.cty ? ` (${policy.issuer.cty})` : ""}
          </dd>
          <dt>New versions</dt>
          <dd>{policy.attributes?.enabled === false ? "disabled" : "enabled"}</dd>
          <dt>Policy changed</dt>
          <dd>
            <Time s={policy.attributes?.updated} />
          </dd>
        </dl>
        <div>
          {schedule.data ? (
            <>
              <p class="next-due-label">Planned by the scheduler</p>
              <ScheduleTimeline actions={schedule.data} now={now} renew />
            </>
          ) : schedule.error ? (
            <ErrorBanner error={schedule.error} />
          ) : null}
          <details class="upcoming-details">
            <summary>The policy as Key Vault returns it</summary>
            <pre class="json">{JSON.stringify(policy, null, 2)}</pre>
          </details>
        </div>
      </div>
    </Section>
  );
}

function VersionTable({
  items,
  current,
  now,
  busy,
  onToggle,
}: {
  items: CertificateItem[];
  current: string | undefined;
  now: number;
  busy: boolean;
  onToggle: (version: string, enabled: boolean) => void;
}) {
  const sorted = [...items].sort((a, b) => (b.attributes.created ?? 0) - (a.attributes.created ?? 0));
  const { shown, pager } = usePages(sorted);
  if (!sorted.length) return <Empty title="No version yet.">The first version is written when its issuer signs it.</Empty>;
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
            <th class="hide-narrow">Not before</th>
            <th>Expires</th>
            <th class="hide-narrow">Thumbprint</th>
            <th>
              <span class="visually-hidden">Actions</span>
            </th>
          </>
        }
      >
        {shown.map((v) => {
          const version = idParts(v.id).version ?? "";
          const enabled = v.attributes.enabled !== false;
          return (
            <tr key={v.id} data-version={version}>
              <td>
                <VersionId version={version} current={version === current} />
              </td>
              <td>
                <Enabled enabled={v.attributes.enabled} /> <ExpiryBadge exp={v.attributes.exp} now={now} />
              </td>
              <td class="hide-narrow">
                <Time s={v.attributes.nbf} />
              </td>
              <td>
                <Time s={v.attributes.exp} />
              </td>
              <td class="hide-narrow">
                <code class="small" title={thumbprint(v.x5t)}>
                  {thumbprint(v.x5t)?.slice(0, 23) ?? "—"}
                </code>
              </td>
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
            </tr>
          );
        })}
      </ListTable>
      {pager}
    </>
  );
}
