import { useEffect, useState } from "preact/hooks";
import { PERMISSIONS, type PermissionKind } from "../../../src/authz/operations.ts";
import { BUILT_IN_ROLES } from "../../../src/authz/roles.ts";
import type { AccessPolicyRecord, RoleAssignmentRecord } from "../../../src/store/store.ts";
import { KINDS, kindOfCollection, OBJECT_KINDS, type ObjectKind } from "../../../src/kernel/kinds.ts";
import { api, idParts, type Page, type VaultSummary } from "../api.ts";
import { useConsole } from "../context.ts";
import { seg } from "../router.ts";
import {
  Badge,
  Button,
  ConfirmButton,
  Empty,
  ErrorBanner,
  Field,
  Link,
  ListTable,
  Notice,
  PageHeader,
  Search,
  Section,
  Show,
  Time,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";
import { IdentityName, ObjectLink, SmallButton, useIdentities, type IdentityRow } from "./ops.tsx";

/** A role assignment and an access policy as the admin API lists them: the store's records. */
type RoleAssignment = RoleAssignmentRecord;
type AccessPolicy = AccessPolicyRecord;

const ROLE_NAMES = Object.keys(BUILT_IN_ROLES);
const COLLECTIONS: PermissionKind[] = ["secrets", "keys", "certificates"];
const shortAction = (a: string) => a.replace(/^Microsoft\.KeyVault\/vaults\//, "");

/** Who may do what in one vault: its role assignments (Azure RBAC) or its access policies, whichever it uses. */
export function AccessPage({ vault }: { vault: string }) {
  const { epoch } = useConsole();
  const vaults = useLoad(() => api.vaults().then((r) => r.value), [epoch]);
  return (
    <Show loaded={vaults} rows={4}>
      {(all) => {
        const v = all.find((x) => x.name.toLowerCase() === vault.toLowerCase());
        if (!v)
          return (
            <>
              <PageHeader title="Access" sub={vault} />
              <Empty title={`There is no vault named ${vault}.`}>
                <Link to="/">See the vaults</Link>
              </Empty>
            </>
          );
        return v.authorization === "rbac" ? <RoleAssignments vault={v} /> : <AccessPolicies vault={v} />;
      }}
    </Show>
  );
}

function ModelNote({ vault }: { vault: VaultSummary }) {
  return (
    <>
      {vault.authorization === "rbac" ? "Azure RBAC decides: " : "Access policies decide: "}
      <span class="muted">
        {vault.authorization === "rbac"
          ? "each identity has the data actions of its roles, at the scope they are assigned. "
          : "each identity has the permissions of its policy, per kind of object. "}
        Lockbox administrators may do everything anyway. The model is chosen in the vault's{" "}
        <Link to={`/vaults/${seg(vault.name)}/settings`}>settings</Link>.
      </span>
    </>
  );
}

// ---- Azure RBAC ----

function Scope({ vault, scope }: { vault: string; scope: string }) {
  if (scope === "/") return <Badge tone="info">whole vault</Badge>;
  const [, collection = "", name = ""] = scope.split("/");
  const kind = kindOfCollection(collection);
  return kind ? <ObjectLink vault={vault} kind={kind} name={decodeURIComponent(name)} /> : <code>{scope}</code>;
}

function RoleAssignments({ vault }: { vault: VaultSummary }) {
  const { epoch, session } = useConsole();
  const path = `/vaults/${seg(vault.name)}/roleassignments`;
  const assignments = useLoad(() => api.admin<{ value: RoleAssignment[] }>("GET", path).then((r) => r.value), [path, epoch]);
  const identities = useIdentities([epoch]);
  const [adding, setAdding] = useState(false);
  const [done, setDone] = useState("");
  const [search, setSearch] = useState("");
  const action = useAction();
  const nameOf = (id: string) => identities.data?.find((i) => i.id === id)?.name ?? id;
  const needle = search.trim().toLowerCase();
  const rows = (assignments.data ?? [])
    .filter((a) => !needle || `${nameOf(a.principal)} ${a.role} ${a.scope}`.toLowerCase().includes(needle))
    .sort(
      (a, b) => nameOf(a.principal).localeCompare(nameOf(b.principal)) || a.role.localeCompare(b.role) || a.scope.localeCompare(b.scope),
    );
  const { shown, pager } = usePages(rows);
  return (
    <>
      <PageHeader
        title="Access"
        sub={<ModelNote vault={vault} />}
        actions={
          adding || !session.identity.admin ? null : (
            <Button
              tone="primary"
              onClick={() => {
                setDone("");
                setAdding(true);
              }}
            >
              Add role assignment
            </Button>
          )
        }
      />
      {done ? <Notice>{done}</Notice> : null}
      {adding ? (
        <AddRoleAssignment
          vault={vault.name}
          identities={identities.data}
          onCancel={() => setAdding(false)}
          onAdded={(a) => {
            setAdding(false);
            setDone(`${nameOf(a.principal)} now has ${a.role} on ${a.scope === "/" ? `the whole vault ${vault.name}` : a.scope.slice(1)}.`);
            assignments.reload();
          }}
        />
      ) : null}
      <ErrorBanner error={action.error} />
      <Section title="Role assignments">
        <Show loaded={assignments} rows={3}>
          {(all) =>
            all.length === 0 ? (
              <Empty title="No role assignments in this vault.">
                Only Lockbox administrators can use it until someone is given a role.
              </Empty>
            ) : (
              <>
                {all.length > 5 ? (
                  <div class="toolbar">
                    <Search value={search} onInput={setSearch} label="Search role assignments" />
                  </div>
                ) : null}
                <ListTable
                  class="stack"
                  head={
                    <>
                      <th>Identity</th>
                      <th>Role</th>
                      <th>Scope</th>
                      <th class="hide-narrow">Assigned</th>
                      <th>
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </>
                  }
                >
                  {shown.map((a) => (
                    <tr key={a.id}>
                      <td>
                        <IdentityName id={a.principal} identities={identities.data} />
                      </td>
                      <td>{a.role}</td>
                      <td>
                        <Scope vault={vault.name} scope={a.scope} />
                      </td>
                      <td class="hide-narrow">
                        <Time s={a.created} />
                      </td>
                      <td class="actions-cell">
                        <ConfirmButton
                          small
                          label="Remove"
                          title="Remove the role assignment"
                          question={
                            <p>
                              <strong>{nameOf(a.principal)}</strong> loses {a.role} on{" "}
                              {a.scope === "/" ? `the whole vault ${vault.name}` : a.scope.slice(1)}, within seconds.
                            </p>
                          }
                          onConfirm={() => action.run(() => api.admin("DELETE", `${path}/${a.id}`)).then(assignments.reload)}
                        />
                      </td>
                    </tr>
                  ))}
                </ListTable>
                {pager}
              </>
            )
          }
        </Show>
      </Section>
    </>
  );
}

/** The names of the objects of a kind in a vault (its first page), for the scope's name field. */
function useObjectNames(vault: string, kind: ObjectKind, wanted: boolean) {
  return useLoad(
    () =>
      wanted
        ? api
            .kv<Page<{ id: string }>>("GET", vault, `/${KINDS[kind].collection}?maxresults=25`)
            .then((r) => r.value.map((x) => idParts(x.id).name))
            .catch(() => [] as string[])
        : Promise.resolve([] as string[]),
    [vault, kind, wanted],
  );
}

function AddRoleAssignment({
  vault,
  identities,
  onAdded,
  onCancel,
}: {
  vault: string;
  identities: IdentityRow[] | undefined;
  onAdded: (a: RoleAssignment) => void;
  onCancel: () => void;
}) {
  const [assignee, setAssignee] = useState("");
  const [role, setRole] = useState("Key Vault Secrets User");
  const [wholeVault, setWholeVault] = useState(true);
  const [kind, setKind] = useState<ObjectKind>("secret");
  const [name, setName] = useState("");
  const names = useObjectNames(vault, kind, !wholeVault);
  const action = useAction();
  const choices = (identities ?? []).filter((i) => !i.admin).sort((a, b) => a.name.localeCompare(b.name));
  useEffect(() => {
    if (!assignee && choices[0]) setAssignee(choices[0].id);
  }, [choices.length]);
  return (
    <Section title="Add a role assignment">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          let made: RoleAssignment | undefined;
          const scope = wholeVault ? "/" : `/${KINDS[kind].collection}/${name.trim()}`;
          const ok = await action.run(async () => {
            made = await api.admin<RoleAssignment>("POST", `/vaults/${seg(vault)}/roleassignments`, { assignee, role, scope });
          });
          if (ok && made) onAdded(made);
        }}
      >
        <div class="form-row">
          <Field label="Identity" hint={choices.length ? "Administrators are left out: they may do everything already." : undefined}>
            <select required value={assignee} onChange={(e) => setAssignee(e.currentTarget.value)}>
              {identities === undefined ? <option value="">Loading…</option> : null}
              {identities !== undefined && choices.length === 0 ? <option value="">No identities: create one first</option> : null}
              {choices.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.name} ({i.kind === "sp" ? "service principal" : "managed identity"})
                </option>
              ))}
            </select>
          </Field>
          <Field label="Role" hint={<span class="mono">{(BUILT_IN_ROLES[role] ?? []).map(shortAction).join(", ")}</span>}>
            <select value={role} onChange={(e) => setRole(e.currentTarget.value)}>
              {ROLE_NAMES.map((r) => (
                <option key={r} value={r}>
                  {r}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <fieldset class="choice">
          <legend>Scope</legend>
          <label class="check">
            <input type="radio" name="scope" checked={wholeVault} onChange={() => setWholeVault(true)} />
            <span>The whole vault {vault}</span>
          </label>
          <label class="check">
            <input type="radio" name="scope" checked={!wholeVault} onChange={() => setWholeVault(false)} />
            <span>One object</span>
          </label>
          {wholeVault ? null : (
            <div class="form-row">
              <Field label="Object kind">
                <select value={kind} onChange={(e) => setKind(e.currentTarget.value as ObjectKind)}>
                  {OBJECT_KINDS.map((k) => (
                    <option key={k} value={k}>
                      {KINDS[k].Noun}
                    </option>
                  ))}
                </select>
              </Field>
              <Field label="Object name" hint="It need not exist yet.">
                <input required list="scope-names" value={name} onInput={(e) => setName(e.currentTarget.value)} autoComplete="off" />
                <datalist id="scope-names">
                  {(names.data ?? []).map((n) => (
                    <option key={n} value={n} />
                  ))}
                </datalist>
              </Field>
            </div>
          )}
        </fieldset>
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button tone="primary" type="submit" busy={action.busy} disabled={!assignee}>
            Assign
          </Button>
          <Button tone="ghost" onClick={onCancel}>
            Cancel
          </Button>
        </div>
      </form>
    </Section>
  );
}

// ---- Access policies ----

function Permissions({ kind, given }: { kind: PermissionKind; given: string[] }) {
  if (given.length === 0) return <span class="muted">none</span>;
  if (PERMISSIONS[kind].every((p) => given.includes(p))) return <Badge tone="info">all</Badge>;
  return (
    <span class="tags">
      {given.map((p) => (
        <span key={p} class="tag">
          {p}
        </span>
      ))}
    </span>
  );
}

function AccessPolicies({ vault }: { vault: VaultSummary }) {
  const { epoch, session } = useConsole();
  const path = `/vaults/${seg(vault.name)}/accesspolicies`;
  const policies = useLoad(() => api.admin<{ value: AccessPolicy[] }>("GET", path).then((r) => r.value), [path, epoch]);
  const identities = useIdentities([epoch]);
  const [editing, setEditing] = useState<AccessPolicy | "new" | undefined>(undefined);
  const [done, setDone] = useState("");
  const action = useAction();
  const nameOf = (id: string) => identities.data?.find((i) => i.id === id)?.name ?? id;
  const rows = [...(policies.data ?? [])].sort((a, b) => nameOf(a.principal).localeCompare(nameOf(b.principal)));
  const { shown, pager } = usePages(rows);
  return (
    <>
      <PageHeader
        title="Access"
        sub={<ModelNote vault={vault} />}
        actions={
          editing || !session.identity.admin ? null : (
            <Button
              tone="primary"
              onClick={() => {
                setDone("");
                setEditing("new");
              }}
            >
              Add access policy
            </Button>
          )
        }
      />
      {done ? <Notice>{done}</Notice> : null}
      {editing ? (
        <PolicyEditor
          vault={vault.name}
          policy={editing === "new" ? undefined : editing}
          identities={(identities.data ?? []).filter(
            (i) => !i.admin && (editing !== "new" ? i.id === editing.principal : !rows.some((p) => p.principal === i.id)),
          )}
          onCancel={() => setEditing(undefined)}
          onSaved={(p) => {
            setEditing(undefined);
            setDone(`The access policy of ${nameOf(p.principal)} is saved.`);
            policies.reload();
          }}
        />
      ) : null}
      <ErrorBanner error={action.error} />
      <Section title="Access policies">
        <Show loaded={policies} rows={3}>
          {(all) =>
            all.length === 0 ? (
              <Empty title="No access policies in this vault.">
                Only Lockbox administrators can use it until someone is given a policy.
              </Empty>
            ) : (
              <>
                <ListTable
                  class="stack"
                  head={
                    <>
                      <th>Identity</th>
                      <th>Secrets</th>
                      <th>Keys</th>
                      <th>Certificates</th>
                      <th>
                        <span class="visually-hidden">Actions</span>
                      </th>
                    </>
                  }
                >
                  {shown.map((p) => (
                    <tr key={p.principal}>
                      <td>
                        <IdentityName id={p.principal} identities={identities.data} />
                      </td>
                      {COLLECTIONS.map((c) => (
                        <td key={c}>
                          <Permissions kind={c} given={p[c]} />
                        </td>
                      ))}
                      <td class="actions-cell">
                        <SmallButton
                          label={`Edit the access policy of ${nameOf(p.principal)}`}
                          onClick={() => {
                            setDone("");
                            setEditing(p);
                          }}
                        >
                          Edit
                        </SmallButton>
                        <ConfirmButton
                          small
                          label="Remove"
                          title="Remove the access policy"
                          question={
                            <p>
                              <strong>{nameOf(p.principal)}</strong> loses every permission in {vault.name}, within seconds.
                            </p>
                          }
                          onConfirm={() => action.run(() => api.admin("DELETE", `${path}/${p.principal}`)).then(policies.reload)}
                        />
                      </td>
                    </tr>
                  ))}
                </ListTable>
                {pager}
              </>
            )
          }
        </Show>
      </Section>
    </>
  );
}

function PolicyEditor({
  vault,
  policy,
  identities,
  onSaved,
  onCancel,
}: {
  vault: string;
  policy: AccessPolicy | undefined;
  identities: IdentityRow[];
  onSaved: (p: AccessPolicy) => void;
  onCancel: () => void;
}) {
  const [principal, setPrincipal] = useState(policy?.principal ?? "");
  const [perms, setPerms] = useState<Record<PermissionKind, string[]>>({
    secrets: policy?.secrets ?? [],
    keys: policy?.keys ?? [],
    certificates: policy?.certificates ?? [],
  });
  const action = useAction();
  useEffect(() => {
    if (!principal && identities[0]) setPrincipal(identities[0].id);
  }, [identities.length]);
  const toggle = (kind: PermissionKind, p: string, on: boolean) =>
    setPerms((x) => ({ ...x, [kind]: on ? [...x[kind], p] : x[kind].filter((y) => y !== p) }));
  const name = identities.find((i) => i.id === principal)?.name ?? principal;
  return (
    <Section title={policy ? `Access policy of ${name}` : "Add an access policy"}>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          let saved: AccessPolicy | undefined;
          const ok = await action.run(async () => {
            saved = await api.admin<AccessPolicy>("PUT", `/vaults/${seg(vault)}/accesspolicies/${principal}`, perms);
          });
          if (ok && saved) onSaved(saved);
        }}
      >
        {policy ? null : (
          <Field label="Identity" hint="Administrators, and identities that have a policy already, are left out.">
            <select required value={principal} onChange={(e) => setPrincipal(e.currentTarget.value)}>
              {identities.length === 0 ? <option value="">No identity left to add</option> : null}
              {identities.map((i) => (
                <option key={i.id} value={i.id}>
                  {i.name} ({i.kind === "sp" ? "service principal" : "managed identity"})
                </option>
              ))}
            </select>
          </Field>
        )}
        <div class="perm-grid">
          {COLLECTIONS.map((kind) => (
            <fieldset key={kind} class="perms">
              <legend>
                {kind[0]!.toUpperCase() + kind.slice(1)}{" "}
                <span class="muted small">
                  {perms[kind].length}/{PERMISSIONS[kind].length}
                </span>
              </legend>
              <div class="perm-quick">
                <button type="button" class="btn ghost small" onClick={() => setPerms((x) => ({ ...x, [kind]: [...PERMISSIONS[kind]] }))}>
                  All
                </button>
                <button type="button" class="btn ghost small" onClick={() => setPerms((x) => ({ ...x, [kind]: [] }))}>
                  None
                </button>
              </div>
              {PERMISSIONS[kind].map((p) => (
                <label key={p} class="check perm">
                  <input
                    type="checkbox"
                    aria-label={`${kind} ${p}`}
                    checked={perms[kind].includes(p)}
                    onChange={(e) => toggle(kind, p, e.currentTarget.checked)}
                  />
                  <span>{p}</span>
                </label>
              ))}
            </fieldset>
          ))}
        </div>
        <ErrorBanner error={action.error} />
        <div class="actions">
          <Button tone="primary" type="submit" busy={action.busy} disabled={!principal}>
            Save access policy
          </Button>
          <Button tone="ghost" onClick={onCancel}>
            Cancel
          </Button>
        </div>
      </form>
    </Section>
  );
}
