import { request as httpsRequest } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import assert from "node:assert/strict";
import type { Lockbox } from "./server.ts";

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

/** A plain HTTPS request to Lockbox, for what the SDK never sends (bad bodies, bad tokens). */
export function raw(
  lockbox: Lockbox,
  options: {
    method?: string;
    path: string;
    host?: string;
    body?: string | Buffer | object;
    token?: string;
    headers?: Record<string, string>;
  },
): Promise<RawResponse> {
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === "string" || Buffer.isBuffer(options.body)
        ? options.body
        : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: lockbox.port,
        method: options.method ?? "GET",
        path: options.path,
        servername: "localhost",
        headers: {
          host: options.host ?? `localhost:${lockbox.port}`,
          ...(body !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {}),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A token for the developer identity from the managed identity endpoint, as @azure/identity gets one. */
export async function developerToken(lockbox: Lockbox, resource = "https://vault.localhost"): Promise<string> {
  const r = await raw(lockbox, {
    path: `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(resource)}`,
    headers: { "x-identity-header": lockbox.env.IDENTITY_HEADER },
  });
  if (r.status !== 200) throw new Error(`token request failed: ${r.status} ${r.text}`);
  return r.json.access_token as string;
}

/** Asserts Azure's error body: {"error":{"code","message"[,"innererror":{"code"}]}}. */
export function assertError(r: RawResponse, status: number, code: string, innerCode?: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status}: ${r.text}`);
  assert.match(String(r.headers["content-type"]), /^application\/json/);
  assert.ok(r.json && typeof r.json.error === "object", `not an Azure error body: ${r.text}`);
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, "string");
  assert.ok(r.json.error.message.length > 0, "the error message is empty");
  if (innerCode === undefined) {
    assert.deepEqual(Object.keys(r.json.error).sort(), ["code", "message"]);
  } else {
    assert.deepEqual(Object.keys(r.json.error).sort(), ["code", "innererror", "message"]);
    assert.equal(r.json.error.innererror.code, innerCode);
  }
}
