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
  assert.equal(Object.keys(BUILT_IN_ROLES).length, 10);
});

test("the certificate roles grant what Azure's do, and the others keep their meanings for certificates", () => {
  for (const op of ["CertificateCreate", "CertificateImport", "CertificatePurge", "CertificateIssuerSet", "CertificateContactsSet"]) {
    assert.equal(can("Key Vault Certificates Officer", op), true, `Certificates Officer may ${op}`);
  }
  assert.equal(can("Key Vault Certificates Officer", "SecretGet"), false, "an officer of certificates reads no secret values");
  assert.equal(can("Key Vault Certificates Officer", "KeySign"), false);
  // Certificate User: read certificates, and load their PFX through the backing secret.
  assert.equal(can("Key Vault Certificate User", "CertificateGet"), true);
  assert.equal(can("Key Vault Certificate User", "CertificateList"), true);
  assert.equal(can("Key Vault Certificate User", "SecretGet"), true);
  assert.equal(can("Key Vault Certificate User", "KeyGet"), true);
  assert.equal(can("Key Vault Certificate User", "CertificateCreate"), false);
  assert.equal(can("Key Vault Certificate User", "CertificateDelete"), false);
  assert.equal(can("Key Vault Certificate User", "KeySign"), false);
  assert.equal(can("Key Vault Reader", "CertificateList"), true, "Reader's */read covers certificates");
  assert.equal(can("Key Vault Reader", "CertificateIssuerGet"), true);
  assert.equal(can("Key Vault Reader", "CertificateCreate"), false);
  assert.equal(can("Key Vault Secrets Officer", "CertificateGet"), false);
  assert.equal(can("Key Vault Crypto Officer", "CertificateCreate"), false);
});

test("access policies have Azure's sixteen certificate permissions, each used by an operation", () => {
  assert.equal(PERMISSIONS.certificates.length, 16);
  const used = new Set([...OPERATIONS.values()].filter((o) => o.permission.kind === "certificates").map((o) => o.permission.name));
  for (const p of PERMISSIONS.certificates) {
    // Azure lists manageissuers and listissuers too, but certificates.json has no operation ask for them alone.
    if (p !== "manageissuers" && p !== "listissuers") assert.ok(used.has(p), `an operation needs certificates/${p}`);
  }
  assert.equal(operation("CertificatePendingMerge").permission.name, "create", "merge, as create, needs certificates/create");
  assert.equal(operation("CertificateIssuersList").permission.name, "getissuers", "as certificates.json says");
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
