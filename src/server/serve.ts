import { join } from "node:path";
import { Tokens } from "../identity/tokens.ts";
import { startPurging } from "../scheduler/purge.ts";
import { buildApp } from "./app.ts";
import type { Config } from "./config.ts";
import { asShell, clientEnvironment, writeRuntimeInfo } from "./environment.ts";
import { DEFAULT_VAULT, openInstance } from "./instance.ts";
import { ensureTls, operatorTls } from "./tls.ts";

const PURGE_INTERVAL_MS = 60_000;

/**
 * `lockbox serve`: opens the data directory, listens on HTTPS, prints the line
 * "listening on https://HOST:PORT" and the client environment, and on SIGINT/SIGTERM
 * stops accepting, finishes the requests in flight, closes the store and exits 0.
 */
export async function serve(config: Config): Promise<void> {
  const instance = await openInstance(config.dataDir);
  const tls =
    config.tlsCert && config.tlsKey ? operatorTls(config.tlsCert, config.tlsKey) : await ensureTls(join(config.dataDir, "tls"), config.dnsSuffix);
  const tokens = await Tokens.load(instance.store, instance.keyring, instance.clock, instance.tenantId, `https://${config.dnsSuffix}`);
  const app = await buildApp({ config, instance, tokens, tls });

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  writeRuntimeInfo(config.dataDir, { pid: process.pid, port, dnsSuffix: config.dnsSuffix, caFile: tls.caFile });

  const stopPurging = startPurging([instance.secrets.objects, instance.keys.objects], PURGE_INTERVAL_MS, (e) => app.log.error({ err: e }, "purge failed"));

  // Ready for a signal before anyone is told the server is up.
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal} received: finishing requests in flight`);
    stopPurging();
    await app.close();
    await instance.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));

  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  const env = await clientEnvironment(instance, port, config.dnsSuffix, tls.caFile);
  process.stdout.write(
    [
      `Lockbox listening on https://${shownHost}:${port} (data in ${config.dataDir})`,
      "",
      "Point a Key Vault program at it with this environment (also printed by `lockbox env`):",
      asShell(env),
      "",
      `Vault URLs: https://{vault}.${config.dnsSuffix}:${port}, or https://localhost:${port} for the vault '${DEFAULT_VAULT}'`,
      `(with disableChallengeResourceVerification: true). Names under .localhost need a hosts line:`,
      `  echo "127.0.0.1 ${DEFAULT_VAULT}.${config.dnsSuffix}" | sudo tee -a /etc/hosts`,
      "",
    ].join("\n"),
  );

}
