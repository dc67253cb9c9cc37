import { badParameter } from "../kernel/errors.ts";

/**
 * The api-versions the official SDKs send; all behave the same here (a preview as the release
 * that followed it). Besides the releases: `2016-10-01` (the Python SDK's and az's oldest
 * profile), and the previews released SDKs defaulted to: `7.2-preview` and `7.3-preview`
 * (Python, JS, Go betas), `7.4-preview.1` (Python's azure-keyvault-keys 4.8 betas, and so
 * Debian's python3-azure), `7.5-preview.1` (.NET, Java and Python betas, 2023),
 * `7.6-preview.1` (.NET, Java, Python and Go betas, 2024) and `7.6-preview.2` (JS).
 */
export const API_VERSIONS = new Set([
  "2016-10-01",
  "7.0",
  "7.1",
  "7.2-preview",
  "7.2",
  "7.3-preview",
  "7.3",
  "7.4-preview.1",
  "7.4",
  "7.5-preview.1",
  "7.5",
  "7.6-preview.1",
  "7.6-preview.2",
  "7.6",
  "2025-07-01",
  "2026-04-01",
]);
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
