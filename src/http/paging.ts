import { badParameter } from "../kernel/errors.ts";

export const MAX_PAGE = 25;

export interface PageRequest {
  limit: number;
  cursor?: string;
}

/** Reads `maxresults` (1-25, default 25) and the opaque `$skiptoken`. */
export function pageRequest(query: Record<string, unknown>): PageRequest {
  const raw = query.maxresults;
  let limit = MAX_PAGE;
  if (raw !== undefined && raw !== "") {
    limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw badParameter(`Invalid value for maxresults: ${String(raw)}. It must be an integer from 1 to ${MAX_PAGE}.`);
    }
  }
  const token = query.$skiptoken;
  if (token === undefined || token === "") return { limit };
  return { limit, cursor: decodeSkipToken(String(token)) };
}

const TOKEN_PREFIX = "lb1:";

export function encodeSkipToken(cursor: string): string {
  return Buffer.from(TOKEN_PREFIX + cursor, "utf8").toString("base64url");
}

function decodeSkipToken(token: string): string {
  const text = Buffer.from(token, "base64url").toString("utf8");
  if (!text.startsWith(TOKEN_PREFIX)) throw badParameter("The skip token is invalid.");
  return text.slice(TOKEN_PREFIX.length);
}

/** The absolute nextLink for the page after `cursor`, on the caller's own origin. */
export function nextLink(
  origin: string,
  path: string,
  apiVersion: string,
  limit: number,
  cursor: string | undefined,
  query: Record<string, string> = {},
): string | null {
  if (cursor === undefined) return null;
  const q = new URLSearchParams({ "api-version": apiVersion, $skiptoken: encodeSkipToken(cursor), maxresults: String(limit), ...query });
  return `${origin}${path}?${q.toString().replace("%24skiptoken", "$skiptoken")}`;
}
