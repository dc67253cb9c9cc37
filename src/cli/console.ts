import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { DEFAULT_DNS_SUFFIX, parsePort } from "../server/config.ts";
import { caFileOf, managedIdentityToken, memoryIdentity, readRuntimeInfo, type InstanceIdentity } from "../server/environment.ts";
import { dataDirOption, resolveDataDir, withInstance } from "./common.ts";

interface Answer {
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

const messageOf = (a: Answer): string =>
  (a.body as { error?: { message?: string } } | undefined)?.error?.message ?? `the server answered ${a.status}`;

/** `lockbox console`: a one-time sign-in link to the running server's web console. */
export function consoleCommands(program: Command): void {
  program
    .command("console")
    .description("print a one-time sign-in link to the web console of the running server (for the developer identity)")
    .addOption(dataDirOption())
    .option("--port <port>", "the server's port, when several run")
    .option("--identity <name>", "sign in as this identity instead (what it may see and do is what its roles allow)")
    .action(async (opts: { dataDir?: string; port?: string; identity?: string }) => {
      const dataDir = resolveDataDir(opts.dataDir, opts.port !== undefined ? parsePort(opts.port) : undefined);
      const running = readRuntimeInfo(dataDir, (stale) =>
        console.error(`lockbox: ${join(dataDir, "server.json")} names pid ${stale.pid}, which no longer runs: ignored`),
      );
      if (!running?.port)
        throw new Error(`no Lockbox server is running on ${dataDir}: start one with \`lockbox serve\`, then run this again`);
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
      const link = await call(
        port,
        ca,
        "POST",
        "/lockbox/v1/console/links",
        { authorization: `Bearer ${bearer}` },
        opts.identity ? { identity: opts.identity } : {},
      );
      if (link.status === 404) throw new Error(`the server on port ${port} serves no console (it was started with --no-console)`);
      if (link.status !== 201) throw new Error(messageOf(link));
      const { url, identity, expiresOn } = link.body as { url: string; identity: string; expiresOn: number };
      console.log(url);
      console.error(
        `lockbox: open it in a browser to sign in as ${identity}; it works once, until ${new Date(expiresOn * 1000).toLocaleTimeString()}`,
      );
    });
}
