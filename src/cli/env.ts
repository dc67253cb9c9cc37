import { Command, Option } from "commander";
import { join } from "node:path";
import { parsePort, DEFAULT_DNS_SUFFIX, DEFAULT_PORT } from "../server/config.ts";
import {
  asShell,
  azLines,
  caFileOf,
  clientEnvironment,
  memoryIdentity,
  readRuntimeInfo,
  SHELLS,
  type InstanceIdentity,
  type Shell,
} from "../server/environment.ts";
import { dataDirOption, resolveDataDir, withInstance } from "./common.ts";
import { Tokens } from "../identity/tokens.ts";
import { DEVELOPER_IDENTITY } from "../server/instance.ts";

export function envCommands(program: Command): void {
  program
    .command("env")
    .description(
      "print the environment a client program needs (NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, IDENTITY_ENDPOINT, IDENTITY_HEADER, TENANT_ID, KEYVAULT_URL)",
    )
    .addOption(dataDirOption())
    .option("--port <port>", "the server's port (default: the running server's, else 8443)")
    .option("--dns-suffix <suffix>", "the server's DNS suffix (default: the running server's)")
    .option("--json", "print one JSON object instead of shell export lines")
    .option("--az", "print the az CLI lines that register this server as a cloud and log in")
    .addOption(new Option("--shell <shell>", "the shell to write for (default sh: bash, zsh, ...)").choices(SHELLS))
    .action(async (opts: { dataDir?: string; port?: string; dnsSuffix?: string; json?: boolean; az?: boolean; shell?: Shell }) => {
      const given = opts.port !== undefined ? parsePort(opts.port) : undefined;
      const dataDir = resolveDataDir(opts.dataDir, given);
      const running = readRuntimeInfo(dataDir, (stale) =>
        console.error(`lockbox: ${join(dataDir, "server.json")} names pid ${stale.pid}, which no longer runs: ignored`),
      );
      const port = given ?? running?.port ?? DEFAULT_PORT;
      const dnsSuffix = opts.dnsSuffix ?? running?.dnsSuffix ?? DEFAULT_DNS_SUFFIX;
      const caFile = caFileOf(dataDir, running);
      const print = async (instance: InstanceIdentity): Promise<void> => {
        if (opts.az) return void console.log(azLines(port, dnsSuffix, instance.tenantId));
        const env = await clientEnvironment(instance, port, dnsSuffix, caFile);
        console.log(opts.json ? JSON.stringify(env, null, 2) : asShell(env, opts.shell));
      };
      // An in-memory store is the server's alone: its identity is in a file it wrote.
      if (running?.memory) await print(memoryIdentity(dataDir));
      else await withInstance(dataDir, print);
    });
}

/** `lockbox token`: a bearer token for the developer identity (or another managed identity), for curl and the admin API. */
export function tokenCommands(program: Command): void {
  program
    .command("token")
    .description("print a bearer token for the developer identity, e.g. for curl against the admin API (/lockbox/v1)")
    .option("--resource <uri>", "the token's audience (default: https://{dns-suffix}, what vaults and the admin API accept)")
    .option("--identity <name>", "another enabled managed identity", DEVELOPER_IDENTITY)
    .addOption(dataDirOption())
    .action(async (opts: { resource?: string; identity: string; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const running = readRuntimeInfo(i.dataDir);
        const suffix = running?.dnsSuffix ?? DEFAULT_DNS_SUFFIX;
        const identity = await i.identities.find(opts.identity);
        if (identity.kind !== "managed" || !identity.enabled)
          throw new Error(`${identity.name} is not an enabled managed identity: only those get a token here`);
        const tokens = await Tokens.load(i.store, i.keyring, i.clock, i.tenantId, `https://${suffix}`);
        const { token } = await audited("TokenIssue", { command: `token --identity ${identity.name}` }, () =>
          tokens.issue(identity, opts.resource ?? `https://${suffix}`, `https://127.0.0.1:${running?.port ?? DEFAULT_PORT}`),
        );
        console.log(token);
      });
    });
}
