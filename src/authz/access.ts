import { randomUUID } from "node:crypto";
import type { AccessPolicyRecord, IdentityRecord, RoleAssignmentRecord, Store } from "../store/store.ts";
import { TtlCache, type CacheObserver } from "../kernel/cache.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";
import { badParameter, KvError, notFound } from "../kernel/errors.ts";
import { canonicalName } from "../vault/names.ts";
import type { Vault } from "../vault/vaults.ts";
import { PERMISSIONS, type Operation, type PermissionKind } from "./operations.ts";
import { BUILT_IN_ROLES, roleGrants, roleNamed } from "./roles.ts";

/** Who is asking, as far as authorization goes. */
export interface Caller {
  objectId: string;
  clientId: string;
  name: string;
  tenantId: string;
  /** A Lockbox administrator: may do everything, in every vault, and use the admin API. */
  admin: boolean;
}

const CACHE_MS = 1000;

/**
 * Decides whether a caller may perform an operation on a vault (and object), by Azure RBAC
 * role assignments (vault or single-object scope) or by access policies, whichever the
 * vault uses. Grants are cached for a second, so a change is enforced within one.
 */
export class AccessControl {
  private readonly cache: TtlCache<string, { assignments?: RoleAssignmentRecord[]; policy?: AccessPolicyRecord | null }>;

  /** Drops what is cached: a grant was changed (perhaps by another process). */
  forget(): void {
    this.cache.clear();
  }

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    observeCache?: CacheObserver,
  ) {
    this.cache = new TtlCache(clock, CACHE_MS, undefined, (hit) => observeCache?.("grants", hit));
  }

  private grantsOf(vault: Vault, principal: string) {
    return this.cache.through(`${vault.name}|${vault.rbac}|${principal}`, async () =>
      vault.rbac
        ? { assignments: await this.store.read((repo) => repo.listRoleAssignments(vault.name, principal)) }
        : { policy: (await this.store.read((repo) => repo.getAccessPolicy(vault.name, principal))) ?? null },
    );
  }

  /** Throws Azure's 403 unless the caller may do `op` (on `objectName` of `kind`). */
  async authorize(caller: Caller, vault: Vault, op: Operation, objectName?: string): Promise<void> {
    if (caller.admin) return;
    const grants = await this.grantsOf(vault, caller.objectId);
    const who = `appid=${caller.clientId};oid=${caller.objectId};name=${caller.name}`;
    if (vault.rbac) {
      const scopes = ["/"];
      if (op.onObject && objectName) scopes.push(`/${op.permission.kind}/${objectName.toLowerCase()}`);
      const allowed = (grants.assignments ?? []).some((a) => scopes.includes(a.scope) && roleGrants(a.role, op.dataAction));
      if (!allowed) {
        const resource = `/vaults/${vault.name}${op.onObject && objectName ? `/${op.permission.kind}/${objectName}` : ""}`;
        throw new KvError(
          403,
          "Forbidden",
          `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: ${who}\r\nAction: '${op.dataAction}'\r\nResource: '${resource}'\r\nAssignment: (not found)\r\nVault: ${vault.name}\r\n`,
          "ForbiddenByRbac",
        );
      }
      return;
    }
    const permissions = grants.policy?.[op.permission.kind] ?? [];
    if (!permissions.some((p) => p.toLowerCase() === op.permission.name.toLowerCase())) {
      throw new KvError(
        403,
        "Forbidden",
        `The user, group or application '${who}' does not have ${op.permission.kind} ${op.permission.name} permission on key vault '${vault.name}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
        "ForbiddenByPolicy",
      );
    }
  }

  /**
   * Assigns a built-in role on the vault or one object. An exact duplicate (same identity,
   * role and scope) is 409 RoleAssignmentExists, as Azure answers; a vault that uses access
   * policies is refused, since a role there would decide nothing.
   */
  async assignRole(vault: Vault, identity: IdentityRecord, roleName: string, scope = "/"): Promise<RoleAssignmentRecord> {
    const role = roleNamed(roleName);
    if (!role) throw badParameter(`'${roleName}' is not a Key Vault role. Roles: ${Object.keys(BUILT_IN_ROLES).join(", ")}.`);
    if (!vault.rbac)
      throw badParameter(
        `The vault ${vault.name} uses access policies (enableRbacAuthorization is false), so a role assignment would decide nothing there. Give ${identity.name} an access policy instead, or switch the vault to Azure RBAC first.`,
      );
    const assignment: RoleAssignmentRecord = {
      id: randomUUID(),
      vault: vault.name,
      principal: identity.id,
      role,
      scope: normalizeScope(scope),
      created: nowSeconds(this.clock),
    };
    await this.store.write(async (repo) => {
      const existing = await repo.listRoleAssignments(vault.name, identity.id);
      if (existing.some((a) => a.role === assignment.role && a.scope === assignment.scope))
        throw new KvError(409, "RoleAssignmentExists", "The role assignment already exists.");
      await repo.insertRoleAssignment(assignment);
    });
    return assignment;
  }

  listRoles(vault: Vault, principal?: string): Promise<RoleAssignmentRecord[]> {
    return this.store.read((repo) => repo.listRoleAssignments(vault.name, principal ?? null));
  }

  async removeRole(vault: Vault, id: string): Promise<void> {
    if (!(await this.store.write((repo) => repo.deleteRoleAssignment(vault.name, id)))) {
      throw notFound("NotFound", `There is no role assignment ${id} on the vault ${vault.name}.`);
    }
  }

  /** Sets an identity's access policy: its permissions per collection (none where not given). */
  async setPolicy(
    vault: Vault,
    identity: IdentityRecord,
    permissions: Partial<Record<PermissionKind, string[]>>,
  ): Promise<AccessPolicyRecord> {
    const policy: AccessPolicyRecord = {
      vault: vault.name,
      principal: identity.id,
      secrets: checkPermissions("secrets", permissions.secrets ?? []),
      keys: checkPermissions("keys", permissions.keys ?? []),
      certificates: checkPermissions("certificates", permissions.certificates ?? []),
    };
    await this.store.write((repo) => repo.putAccessPolicy(policy));
    return policy;
  }

  listPolicies(vault: Vault): Promise<AccessPolicyRecord[]> {
    return this.store.read((repo) => repo.listAccessPolicies(vault.name));
  }

  /**
   * The names of the vaults an identity (its object id) has anything granted in: a role
   * assignment at any scope, or an access policy, whichever model the vault uses now. For the
   * console of a caller who is not a Lockbox administrator (administrators may see every vault).
   */
  vaultsVisibleTo(objectId: string): Promise<string[]> {
    return this.store.read((repo) => repo.listVaultsGranting(objectId));
  }

  async removePolicy(vault: Vault, identity: IdentityRecord): Promise<void> {
    if (!(await this.store.write((repo) => repo.deleteAccessPolicy(vault.name, identity.id)))) {
      throw notFound("NotFound", `${identity.name} has no access policy on ${vault.name}.`);
    }
  }
}

/** A role assignment's scope as stored: `/`, or `/secrets|keys|certificates/NAME` (canonical). */
export function normalizeScope(scope: string): string {
  if (scope === "/" || scope === "") return "/";
  const m = /^\/(secrets|keys|certificates)\/([^/]+)$/i.exec(scope);
  if (!m) throw badParameter(`The scope '${scope}' is not valid: use /, /secrets/NAME, /keys/NAME or /certificates/NAME.`);
  return `/${m[1]!.toLowerCase()}/${canonicalName(m[2]!)}`;
}

/** Access-policy permissions of one collection as stored: known names in their own case, `all` for every one. */
export function checkPermissions(kind: PermissionKind, given: string[]): string[] {
  const known = PERMISSIONS[kind];
  const out: string[] = [];
  for (const g of given) {
    if (g.toLowerCase() === "all") return [...known];
    const match = known.find((k) => k.toLowerCase() === g.toLowerCase());
    if (!match) throw badParameter(`'${g}' is not a ${kind} permission. Permissions: ${known.join(", ")}.`);
    if (!out.includes(match)) out.push(match);
  }
  return out;
}
