import type { KindNames } from "../kernel/kinds.ts";

/** Access policies grant permissions per collection: secrets, keys, certificates. */
export type PermissionKind = KindNames["collection"];

export interface Operation {
  name: string;
  dataAction: string;
  permission: { kind: PermissionKind; name: string };
  /** Whether the operation concerns one named object (single-object role scopes apply). */
  onObject: boolean;
}

const S = "Microsoft.KeyVault/vaults/secrets";
const K = "Microsoft.KeyVault/vaults/keys";
const P = "Microsoft.KeyVault/vaults/keyrotationpolicies";
const C = "Microsoft.KeyVault/vaults/certificates";
const CA = "Microsoft.KeyVault/vaults/certificatecas";
const CC = "Microsoft.KeyVault/vaults/certificatecontacts";

const op = (name: string, dataAction: string, kind: PermissionKind, permission: string, onObject = true): [string, Operation] => [
  name,
  { name, dataAction, permission: { kind, name: permission }, onObject },
];

/**
 * Every data-plane operation, once: its AuditEvent operationName, the RBAC data action it
 * needs, and the access-policy permission it needs. Routes name their operation; the
 * authorizer, the audit log and the tests all read this one table.
 */
export const OPERATIONS: ReadonlyMap<string, Operation> = new Map([
  op("SecretSet", `${S}/setSecret/action`, "secrets", "set"),
  op("SecretGet", `${S}/getSecret/action`, "secrets", "get"),
  op("SecretUpdate", `${S}/update/action`, "secrets", "set"),
  op("SecretDelete", `${S}/delete`, "secrets", "delete"),
  op("SecretList", `${S}/readMetadata/action`, "secrets", "list", false),
  op("SecretListVersions", `${S}/readMetadata/action`, "secrets", "list"),
  op("SecretBackup", `${S}/backup/action`, "secrets", "backup"),
  op("SecretRestore", `${S}/restore/action`, "secrets", "restore", false),
  op("SecretGetDeleted", `${S}/readMetadata/action`, "secrets", "get"),
  op("SecretListDeleted", `${S}/readMetadata/action`, "secrets", "list", false),
  op("SecretPurge", `${S}/purge/action`, "secrets", "purge"),
  op("SecretRecover", `${S}/recover/action`, "secrets", "recover"),

  op("KeyCreate", `${K}/create/action`, "keys", "create"),
  op("KeyImport", `${K}/import/action`, "keys", "import"),
  op("KeyGet", `${K}/read`, "keys", "get"),
  op("KeyUpdate", `${K}/update/action`, "keys", "update"),
  op("KeyDelete", `${K}/delete`, "keys", "delete"),
  op("KeyList", `${K}/read`, "keys", "list", false),
  op("KeyListVersions", `${K}/read`, "keys", "list"),
  op("KeyBackup", `${K}/backup/action`, "keys", "backup"),
  op("KeyRestore", `${K}/restore/action`, "keys", "restore", false),
  op("KeyGetDeleted", `${K}/read`, "keys", "get"),
  op("KeyListDeleted", `${K}/read`, "keys", "list", false),
  op("KeyPurge", `${K}/purge/action`, "keys", "purge"),
  op("KeyRecover", `${K}/recover/action`, "keys", "recover"),
  op("KeyRotate", `${K}/rotate/action`, "keys", "rotate"),
  op("KeyGetRotationPolicy", `${P}/read`, "keys", "getrotationpolicy"),
  op("KeyUpdateRotationPolicy", `${P}/write`, "keys", "setrotationpolicy"),
  op("KeyEncrypt", `${K}/encrypt/action`, "keys", "encrypt"),
  op("KeyDecrypt", `${K}/decrypt/action`, "keys", "decrypt"),
  op("KeyWrap", `${K}/wrap/action`, "keys", "wrapKey"),
  op("KeyUnwrap", `${K}/unwrap/action`, "keys", "unwrapKey"),
  op("KeySign", `${K}/sign/action`, "keys", "sign"),
  op("KeyVerify", `${K}/verify/action`, "keys", "verify"),
  op("KeyRelease", `${K}/release/action`, "keys", "release"),
  op("RngGet", "Microsoft.KeyVault/vaults/rng/action", "keys", "get", false),

  op("CertificateCreate", `${C}/create/action`, "certificates", "create"),
  op("CertificateImport", `${C}/import/action`, "certificates", "import"),
  op("CertificateGet", `${C}/read`, "certificates", "get"),
  op("CertificateUpdate", `${C}/update/action`, "certificates", "update"),
  op("CertificateDelete", `${C}/delete`, "certificates", "delete"),
  op("CertificateList", `${C}/read`, "certificates", "list", false),
  op("CertificateListVersions", `${C}/read`, "certificates", "list"),
  op("CertificatePolicyGet", `${C}/read`, "certificates", "get"),
  op("CertificatePolicyUpdate", `${C}/update/action`, "certificates", "update"),
  op("CertificatePendingGet", `${C}/read`, "certificates", "get"),
  op("CertificatePendingUpdate", `${C}/update/action`, "certificates", "update"),
  op("CertificatePendingDelete", `${C}/delete`, "certificates", "delete"),
  op("CertificatePendingMerge", `${C}/create/action`, "certificates", "create"),
  op("CertificateBackup", `${C}/backup/action`, "certificates", "backup"),
  op("CertificateRestore", `${C}/restore/action`, "certificates", "restore", false),
  op("CertificateGetDeleted", `${C}/read`, "certificates", "get"),
  op("CertificateListDeleted", `${C}/read`, "certificates", "list", false),
  op("CertificatePurge", `${C}/purge/action`, "certificates", "purge"),
  op("CertificateRecover", `${C}/recover/action`, "certificates", "recover"),
  op("CertificateIssuerSet", `${CA}/write`, "certificates", "setissuers", false),
  op("CertificateIssuerGet", `${CA}/read`, "certificates", "getissuers", false),
  op("CertificateIssuerUpdate", `${CA}/write`, "certificates", "setissuers", false),
  op("CertificateIssuerDelete", `${CA}/delete`, "certificates", "deleteissuers", false),
  // certificates.json: listing issuers "requires the certificates/manageissuers/getissuers permission".
  op("CertificateIssuersList", `${CA}/read`, "certificates", "getissuers", false),
  op("CertificateContactsSet", `${CC}/write`, "certificates", "managecontacts", false),
  op("CertificateContactsGet", `${CC}/write`, "certificates", "managecontacts", false),
  op("CertificateContactsDelete", `${CC}/write`, "certificates", "managecontacts", false),
]);

export function operation(name: string): Operation {
  const found = OPERATIONS.get(name);
  if (!found) throw new Error(`unknown operation ${name}`);
  return found;
}

/** Azure's access-policy permission names. */
export const PERMISSIONS: Record<PermissionKind, readonly string[]> = {
  secrets: ["get", "list", "set", "delete", "recover", "backup", "restore", "purge"],
  keys: [
    "get",
    "list",
    "create",
    "import",
    "update",
    "delete",
    "recover",
    "backup",
    "restore",
    "purge",
    "encrypt",
    "decrypt",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
    "rotate",
    "getrotationpolicy",
    "setrotationpolicy",
    "release",
  ],
  certificates: [
    "get",
    "list",
    "update",
    "create",
    "import",
    "delete",
    "recover",
    "backup",
    "restore",
    "managecontacts",
    "manageissuers",
    "getissuers",
    "listissuers",
    "setissuers",
    "deleteissuers",
    "purge",
  ],
};
