import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

/**
 * One line of Key Vault's AuditEvent log. Never holds a secret value or key material: only
 * names, ids, the caller and the outcome.
 */
export interface AuditEvent {
  time: string;
  resourceId: string;
  operationName: string;
  operationVersion: string;
  category: "AuditEvent";
  resultType: "Success" | "Failure";
  resultSignature: string;
  resultDescription: string;
  durationMs: number;
  callerIpAddress: string;
  correlationId: string;
  identity: { claim: Record<string, string> } | null;
  properties: Record<string, unknown>;
}

export interface AuditCaller {
  objectId: string;
  clientId: string;
  tenantId: string;
  name: string;
}

export const claimsOf = (c: AuditCaller): { claim: Record<string, string> } => ({
  claim: {
    "http://schemas.microsoft.com/identity/claims/objectidentifier": c.objectId,
    appid: c.clientId,
    "http://schemas.microsoft.com/identity/claims/tenantid": c.tenantId,
    name: c.name,
  },
});

/** Azure's resourceId of a vault, with this instance's tenant standing for the subscription. */
export const vaultResourceId = (subscription: string, vault: string): string =>
  `/SUBSCRIPTIONS/${subscription}/RESOURCEGROUPS/LOCKBOX/PROVIDERS/MICROSOFT.KEYVAULT/VAULTS/${vault}`.toUpperCase();

/**
 * Appends AuditEvent lines to a file. Each line is written with one write(2) as the request
 * ends, so a crash loses at most the request in flight.
 */
export class AuditLog {
  private fd: number | undefined;

  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, "a", 0o600);
  }

  record(event: AuditEvent): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, JSON.stringify(event) + "\n");
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
