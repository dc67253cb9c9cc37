import { randomBytes } from "node:crypto";
import { badParameter } from "../kernel/errors.ts";

const OBJECT_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** Object names: 1-127 of [0-9a-zA-Z-], case-insensitive. Returns the lookup key. */
export function canonicalName(name: string): string {
  if (!OBJECT_NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${name}`);
  return name.toLowerCase();
}

/** Azure's versions are 32 lower-case hex characters. */
export const newVersionId = (): string => randomBytes(16).toString("hex");

/** A version segment from a URL: empty means latest. Versions are case-insensitive. */
export const canonicalVersion = (version: string | undefined): string | undefined =>
  version === undefined || version === "" ? undefined : version.toLowerCase();

/** Vault names, as Azure: 3-24 characters, letters, digits and hyphens, starting with a letter. */
const VAULT_NAME = /^[a-z][a-z0-9-]{1,22}[a-z0-9]$/;

export function canonicalVaultName(name: string): string {
  const n = name.toLowerCase();
  if (!VAULT_NAME.test(n) || n.includes("--")) {
    throw badParameter(
      `The vault name '${name}' is invalid: use 3-24 letters, digits and hyphens, starting with a letter and ending with a letter or digit.`,
    );
  }
  return n;
}
