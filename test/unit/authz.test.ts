import { test } from "node:test";
import assert from "node:assert/strict";
import { OPERATIONS, PERMISSIONS, operation } from "../../src/authz/operations.ts";
import { BUILT_IN_ROLES, grants, roleGrants, roleNamed } from "../../src/authz/roles.ts";

const can = (role: string, op: string): boolean => roleGrants(role, operation(op).dataAction);

test("data action patterns: wildcards match whole segments' worth, case-insensitively", () => {
  assert.equal(grants("Microsoft.KeyVault/vaults/*", "Microsoft.KeyVault/vaults/secrets/getSecret/action"), true);
  assert.equal(grants("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read"), true);
  assert.equal(grants("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/secrets/getSecret/action"), false);
  assert.equal(grants("Microsoft.KeyVault/vaults/secrets/*", "microsoft.keyvault/vaults/SECRETS/purge/action"), true);
});

test("the built-in roles grant what Azure's do", () => {
  assert.equal(can("Key Vault Secrets User", "SecretGet"), true);
  assert.equal(can("Key Vault Secrets User", "SecretList"), true, "listing needs readMetadata, which Secrets User has");
  assert.equal(can("Key Vault Secrets User", "SecretSet"), false);
  assert.equal(can("Key Vault Reader", "SecretList"), true);
  assert.equal(can("Key Vault Reader", "SecretGet"), false, "Reader sees metadata, never values");
  assert.equal(can("Key Vault Reader", "KeyGet"), true);
  assert.equal(can("Key Vault Secrets Officer", "SecretPurge"), true);
  assert.equal(can("Key Vault Secrets Officer", "KeyGet"), false);
  assert.equal(can("Key Vault Crypto Officer", "KeyUpdateRotationPolicy"), true);
  assert.equal(can("Key Vault Crypto User", "KeySign"), true);
  assert.equal(can("Key Vault Crypto User", "KeyCreate"), false);
  assert.equal(can("Key Vault Crypto User", "KeyDelete"), false);
  assert.equal(can("Key Vault Crypto Service Encryption User", "KeyWrap"), true);
  assert.equal(can("Key Vault Crypto Service Encryption User", "KeyEncrypt"), false);
  assert.equal(can("Key Vault Crypto Service Release User", "KeyRelease"), true);
  assert.equal(can("Key Vault Crypto Service Release User", "KeyGet"), false);
  for (const op of OPERATIONS.keys()) assert.equal(can("Key Vault Administrator", op), true, `Administrator may ${op}`);
  assert.equal(roleNamed("key vault secrets user"), "Key Vault Secrets User");
  assert.equal(roleNamed("Owner"), undefined);
  assert.equal(Object.keys(BUILT_IN_ROLES).length, 8);
});

test("every operation names a known access-policy permission", () => {
  for (const op of OPERATIONS.values()) {
    assert.ok(PERMISSIONS[op.permission.kind].includes(op.permission.name), `${op.name}: ${op.permission.kind}/${op.permission.name}`);
    assert.match(op.dataAction, /^Microsoft\.KeyVault\/vaults\//, op.name);
  }
  assert.equal(operation("SecretList").onObject, false);
  assert.equal(operation("SecretGet").permission.name, "get");
  assert.throws(() => operation("SecretTeleport"));
});
