import { badParameter } from "../kernel/errors.ts";

/** The api-versions the official SDKs send; all behave the same here. */
export const API_VERSIONS = new Set(["7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6-preview.2", "7.6", "2025-07-01", "2026-04-01"]);
export const LATEST_API_VERSION = "2026-04-01";

/** Checks the (already percent-decoded) api-version query value; returns it. */
export function checkApiVersion(value: unknown): string {
  if (typeof value !== "string" || value === "") {
    throw badParameter("The api-version query parameter is required.");
  }
  if (!API_VERSIONS.has(value)) {
    throw badParameter(
      `The specified version (${value}) is not recognized. Consider using the latest supported version (${LATEST_API_VERSION}).`,
    );
  }
  return value;
}
