import { useState } from "preact/hooks";
import { api, type VaultSummary } from "../api.ts";
import { useConsole } from "../context.ts";
import { navigate, seg } from "../router.ts";
import {
  Badge,
  Button,
  ConfirmButton,
  Copyable,
  Empty,
  ErrorBanner,
  Field,
  Link,
  ListTable,
  Notice,
  PageHeader,
  Section,
  Show,
  useAction,
  useLoad,
} from "../ui.tsx";

/** A vault as the admin API shows it (GET /lockbox/v1/vaults). */
export interface VaultInfo extends VaultSummary {
  recoveryLevel?: string;
  retentionDays?: number;
  purgeProtection?: boolean;
}

/** Every vault with its settings for an administrator; the vaults one may look into for anyone else. */
const loadVaults = (admin: boolean): Promise<VaultInfo[]> =>
  admin ? api.admin<{ value: VaultInfo[] }>("GET", "/vaults").then((r) => r.value) : api.vaults().then((r) => r.value);

function CreateVault({ created }: { created: (name: string) => void }) {
  const [name, setName] = useState("");
  const [retention, setRetention] = useState("90");
  const [purgeProtection, setPurgeProtection] = useState(false);
  const [authorization, setAuthorization] = useState<"rbac" | "access-policies">("rbac");
  const action = useAction();
  return (
    <form
      class="grid2"
      onSubmit={async (e) => {
        e.preventDefault();
        const ok = await action.run(() =>
          api.admin("POST", "/vaults", { name, retentionDays: Number(retention), purgeProtection, authorization }),
        );
        if (ok) created(name.toLowerCase());
      }}
    >
      <div>
        <Field label="Vault name" hint="3 to 24 letters, digits and dashes; it becomes https://NAME.vault.localhost:PORT">
          <input name="name" required value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Soft-delete retention (days)" hint="7 to 90; cannot be changed later, as in Azure">
          <input type="number" min={7} max={90} value={retention} onInput={(e) => setRetention((e.target as HTMLInputElement).value)} />
        </Field>
      </div>
      <div>
        <Field label="Authorization">
          <select value={authorization} onChange={(e) => setAuthorization((e.target as HTMLSelectElement).value as "rbac")}>
            <option value="rbac">Azure RBAC (role assignments)</option>
            <option value="access-policies">Access policies</option>
          </select>
        </Field>
        <label class="check">
          <input type="checkbox" checked={purgeProtection} onChange={(e) => setPurgeProtection((e.target as HTMLInputElement).checked)} />
          Purge protection (deleted objects cannot be purged before their retention ends; cannot be turned off)
        </label>
        <ErrorBanner error={action.error} />
        <Button tone="primary" type="submit" busy={action.busy}>
          Create vault
        </Button>
      </div>
    </form>
  );
}

export function VaultsPage() {
  const { session, refresh, epoch } = useConsole();
  const admin = session.identity.admin;
  const vaults = useLoad(() => loadVaults(admin), [epoch]);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHeader
        title="Vaults"
        sub={
          admin ? "Every vault of this Lockbox instance." : `The vaults where ${session.identity.name} holds a role or an access policy.`
        }
        actions={
          admin ? (
            <Button tone="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
              {creating ? "Close" : "New vault"}
            </Button>
          ) : null
        }
      />
      {creating ? (
        <Section title="New vault">
          <CreateVault
            created={(name) => {
              setCreating(false);
              refresh();
              navigate(`/vaults/${seg(name)}/secrets`);
            }}
          />
        </Section>
      ) : null}
      <Show loaded={vaults}>
        {(list) =>
          list.length === 0 ? (
            <Empty title="No vaults to show.">{admin ? "Create one with New vault." : "Ask an administrator for a role on a vault."}</Empty>
          ) : (
            <ListTable
              head={
                <>
                  <th>Name</th>
                  <th class="hide-narrow">Vault URL</th>
                  <th>Authorization</th>
                  {admin ? <th class="hide-narrow">Retention</th> : null}
                  {admin ? <th class="hide-narrow">Purge protection</th> : null}
                </>
              }
            >
              {list.map((v) => (
                <tr key={v.name}>
                  <td>
                    <Link to={`/vaults/${seg(v.name)}/secrets`}>{v.name}</Link>
                  </td>
                  <td class="hide-narrow">
                    <code>{v.url}</code> <Copyable text={v.url} />
                  </td>
                  <td>{v.authorization === "rbac" ? "Azure RBAC" : "Access policies"}</td>
                  {admin ? <td class="hide-narrow">{v.retentionDays} days</td> : null}
                  {admin ? (
                    <td class="hide-narrow">{v.purgeProtection ? <Badge tone="info">on</Badge> : <span class="muted">off</span>}</td>
                  ) : null}
                </tr>
              ))}
            </ListTable>
          )
        }
      </Show>
    </>
  );
}

export function VaultSettings({ vault }: { vault: string }) {
  const { session, refresh, epoch } = useConsole();
  const vaults = useLoad(() => loadVaults(session.identity.admin), [epoch, vault]);
  const action = useAction();
  const [done, setDone] = useState("");
  const change = async (body: Record<string, unknown>, what: string) => {
    setDone("");
    if (await action.run(() => api.admin("PATCH", `/vaults/${seg(vault)}`, body))) {
      setDone(what);
      refresh();
    }
  };
  return (
    <>
      <PageHeader title="Settings" sub={`Vault ${vault}`} />
      {done ? <Notice>{done}</Notice> : null}
      <ErrorBanner error={action.error} />
      <Show loaded={vaults}>
        {(list) => {
          const v = list.find((x) => x.name === vault);
          if (!v) return <Empty title={`There is no vault named ${vault}.`} />;
          return (
            <>
              <Section title="The vault">
                <dl class="props">
                  <dt>URL</dt>
                  <dd>
                    <code>{v.url}</code> <Copyable text={v.url} />
                  </dd>
                  <dt>Recovery level</dt>
                  <dd>{v.recoveryLevel}</dd>
                  <dt>Soft-delete retention</dt>
                  <dd>{v.retentionDays} days</dd>
                  <dt>Purge protection</dt>
                  <dd>{v.purgeProtection ? "on (cannot be turned off)" : "off"}</dd>
                  <dt>Authorization</dt>
                  <dd>{v.authorization === "rbac" ? "Azure RBAC" : "Access policies"}</dd>
                </dl>
              </Section>
              <Section title="Change">
                <div class="actions">
                  <ConfirmButton
                    label={v.authorization === "rbac" ? "Switch to access policies" : "Switch to Azure RBAC"}
                    tone="primary"
                    question={
                      <p>
                        Callers are then authorized by {v.authorization === "rbac" ? "access policies" : "role assignments"} only. Those of
                        the other model are kept but stop counting.
                      </p>
                    }
                    confirm="Switch"
                    onConfirm={() =>
                      change(
                        { authorization: v.authorization === "rbac" ? "access-policies" : "rbac" },
                        `Vault ${vault} now uses ${v.authorization === "rbac" ? "access policies" : "Azure RBAC"}.`,
                      )
                    }
                  />
                  {!v.purgeProtection ? (
                    <ConfirmButton
                      label="Turn on purge protection"
                      question={<p>Deleted objects can then only wait out their retention. As in Azure, this cannot be undone.</p>}
                      confirm="Turn on"
                      onConfirm={() => change({ purgeProtection: true }, `Purge protection is on for ${vault}.`)}
                    />
                  ) : null}
                  <ConfirmButton
                    label="Delete vault"
                    question={<p>Delete the vault {vault} and everything in it? This cannot be undone.</p>}
                    confirm="Delete vault"
                    onConfirm={async () => {
                      if (await action.run(() => api.admin("DELETE", `/vaults/${seg(vault)}`))) {
                        refresh();
                        navigate("/");
                      }
                    }}
                  />
                </div>
              </Section>
            </>
          );
        }}
      </Show>
    </>
  );
}
