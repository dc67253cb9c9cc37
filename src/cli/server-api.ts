import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { DEFAULT_DNS_SUFFIX, parsePort } from "../server/config.ts";
import { caFileOf, managedIdentityToken, memoryIdentity, readRuntimeInfo, type InstanceIdentity } from "../server/environment.ts";
import { resolveDataDir, withInstance } from "./common.ts";

export interface Answer {
  status: number;
  body: unknown;
}

/** One HTTPS request to the running server on 127.0.0.1, trusting its CA. */
function call(
  port: number,
  ca: Buffer | undefined,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        ca,
        headers: { ...headers, ...(payload ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: kept as text for the message
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`the server on port ${port} did not answer within 10 s`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** The message of an error answer (Azure's body), else its status. */
export const messageOf = (a: Answer): string =>
  (a.body as { error?: { message?: string } } | undefined)?.error?.message ?? `the server answered ${a.status}`;

/** The running server of a data directory, and requests to its admin API as the developer identity. */
export interface RunningServer {
  port: number;
  request(method: string, path: string, body?: unknown): Promise<Answer>;
}

/**
 * Finds the data directory's running server (server.json), gets a token for the developer
 * identity from its managed identity endpoint, and returns a way to call it over HTTPS, for
 * the commands that must talk to the server itself (what it keeps in memory).
 */
export async function runningServer(dataDirFlag: string | undefined, portFlag: string | undefined): Promise<RunningServer> {
  const dataDir = resolveDataDir(dataDirFlag, portFlag !== undefined ? parsePort(portFlag) : undefined);
  const running = readRuntimeInfo(dataDir, (stale) =>
    console.error(`lockbox: ${join(dataDir, "server.json")} names pid ${stale.pid}, which no longer runs: ignored`),
  );
  if (!running?.port) throw new Error(`no Lockbox server is running on ${dataDir}: start one with \`lockbox serve\`, then run this again`);
  const port = running.port;
  const caFile = caFileOf(dataDir, running);
  const ca = caFile ? readFileSync(caFile) : undefined;
  let header = "";
  const take = async (i: InstanceIdentity) => {
    header = await i.developerHeader();
  };
  if (running.memory) await take(memoryIdentity(dataDir));
  else await withInstance(dataDir, take);

  const resource = `https://${running.dnsSuffix ?? DEFAULT_DNS_SUFFIX}`;
  const { access_token: bearer } = await managedIdentityToken(`https://127.0.0.1:${port}`, ca, header, resource);
  return { port, request: (method, path, body) => call(port, ca, method, path, { authorization: `Bearer ${bearer}` }, body) };
}
