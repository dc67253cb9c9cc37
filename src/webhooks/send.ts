import type { Rotator } from "../vault/generator.ts";

export type Fetch = typeof fetch;

/** How long a webhook may take to answer: Event Grid's delivery timeout. */
export const WEBHOOK_TIMEOUT_MS = 30_000;

/**
 * A webhook URL as logs and messages show it: scheme, host and path. Credentials in the
 * URL and its query (Azure Functions keep their keys in `?code=`) are left out.
 */
export function endpointForLog(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(an invalid URL)";
  }
}

/**
 * Why a webhook request got no answer, in a few words anyone may see: it timed out, or the
 * code of the error that stopped it (ECONNREFUSED, CERT_HAS_EXPIRED, ...). Never an error's
 * message, which may quote the URL and so its credentials.
 */
export function unreachableReason(error: unknown): string {
  let e = error as { name?: unknown; code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++, e = e.cause as typeof e) {
    if (e.name === "TimeoutError") return "timed out";
    if (typeof e.code === "string" && /^[A-Z][A-Z0-9_]*$/.test(e.code)) return `unreachable (${e.code})`;
  }
  return "unreachable";
}

/**
 * One request to a webhook within WEBHOOK_TIMEOUT_MS; undefined when it could not be reached
 * or did not answer in time, and then `failed` is given why (fetch's error, whose cause says
 * e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE or ECONNREFUSED), for the log.
 */
export async function sendWebhook(
  fetchImpl: Fetch,
  url: string,
  init: RequestInit,
  failed: (error: unknown) => void = () => undefined,
): Promise<Response | undefined> {
  try {
    return await fetchImpl(url, { ...init, signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
  } catch (e) {
    failed(e);
    return undefined;
  }
}

/**
 * The secret rotator over HTTP: POST {vault, name, version} (the version being replaced) to
 * the policy's webhook, which answers {"value": "..."}. The value is never logged.
 */
export function webhookRotator(fetchImpl: Fetch = fetch): Rotator {
  return async (url, context) => {
    const shown = endpointForLog(url);
    let why: unknown;
    const res = await sendWebhook(
      fetchImpl,
      url,
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(context) },
      (e) => (why = e),
    );
    // The cause (a TLS or connection error) is what the log shows of why (server/logging.ts safeError).
    if (!res) throw new Error(`the rotator webhook ${shown} could not be reached`, { cause: why });
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`the rotator webhook ${shown} answered ${res.status}`);
    }
    const body = (await res.json().catch(() => undefined)) as { value?: unknown } | undefined;
    if (typeof body?.value !== "string" || body.value === "")
      throw new Error(`the rotator webhook ${shown} did not answer {"value": "..."}`);
    return body.value;
  };
}
