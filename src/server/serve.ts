import { join } from "node:path";
import { Tokens } from "../identity/tokens.ts";
import { Scheduler } from "../scheduler/runner.ts";
import { Deliverer } from "../events/delivery.ts";
import { AuditLog, scheduledEvent } from "../audit/audit.ts";
import { systemClock } from "../kernel/clock.ts";
import { buildApp } from "./app.ts";
import type { Config } from "./config.ts";
import { shellQuote, writeRuntimeInfo } from "./environment.ts";
import { createLogger } from "./logging.ts";
import { openInstance } from "./instance.ts";
import { DEFAULT_VAULT } from "../vault/vaults.ts";
import { ensureTls, operatorTls } from "./tls.ts";

const SCHEDULER_INTERVAL_MS = 1000;
/** Under the dev clock, clients are told tokens last this long in real time (see identity/tokens.ts). */
const DEV_CLOCK_TOKEN_SECONDS = 240;

/**
 * `lockbox serve`: opens the data directory, listens on HTTPS, prints where it listens and
 * how to get a client environment (never a credential: stdout is often a log), and on
 * SIGINT/SIGTERM stops accepting, finishes the requests in flight, closes the store and
 * exits 0.
 */
export async function serve(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const instance = await openInstance(config.dataDir, process.env, {
    devClock: config.devClock,
    storage: config.storage,
    init: config.init,
  });
  const tls =
    config.tlsCert && config.tlsKey
      ? operatorTls(config.tlsCert, config.tlsKey)
      : await ensureTls(join(config.dataDir, "tls"), config.dnsSuffix, instance.sharedCa);
  const clientLifetime = instance.devClock ? { clock: systemClock, seconds: DEV_CLOCK_TOKEN_SECONDS } : undefined;
  const tokens = await Tokens.load(
    instance.store,
    instance.keyring,
    instance.clock,
    instance.tenantId,
    `https://${config.dnsSuffix}`,
    clientLifetime,
  );

  // The port is known once listening (--port 0); the scheduler, which needs it for the ids
  // in events, starts then.
  let port = config.port;
  const publicOrigin = (vault: string): string => `https://${vault}.${config.dnsSuffix}${port === 443 ? "" : `:${port}`}`;
  let scheduler: Scheduler | undefined;
  const runDueWork = async (): Promise<void> => scheduler?.kick();
  const audit = new AuditLog(config.auditLog, { failed: (m) => log.error(m), recovered: (m) => log.warn(m) });
  const schedulerRuns = (): number => scheduler?.runs ?? 0;
  const app = await buildApp({ config, instance, tokens, tls, publicOrigin, runDueWork, schedulerRuns, audit, log });

  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  port = typeof address === "object" && address ? address.port : config.port;
  writeRuntimeInfo(config.dataDir, { pid: process.pid, port, dnsSuffix: config.dnsSuffix, caFile: tls.caFile });

  const deliverer = new Deliverer(
    instance.store,
    instance.clock,
    { publicOrigin, subscriptionId: instance.tenantId },
    {
      warn: (message) => log.warn(message),
    },
  );
  scheduler = new Scheduler(instance, deliverer, log, {
    ready: () => audit.ready(),
    record: (entry) =>
      audit.record(
        scheduledEvent(entry, { timeMs: instance.clock.nowMs(), subscription: instance.tenantId, origin: publicOrigin(entry.vault) }),
      ),
  });
  scheduler.start(SCHEDULER_INTERVAL_MS);

  // Ready for a signal before anyone is told the server is up.
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received: finishing requests in flight`);
    await app.close();
    await scheduler?.stop();
    audit.close();
    await instance.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // Log rotation: the audit log was moved away; write on at its path.
  process.on("SIGHUP", () => void audit.reopen());

  const shownHost = config.host.includes(":") ? `[${config.host}]` : config.host;
  process.stdout.write(
    [
      `Lockbox listening on https://${shownHost}:${port} (data in ${config.dataDir})`,
      `Vault URLs: https://{vault}.${config.dnsSuffix}:${port}, e.g. KEYVAULT_URL=https://${DEFAULT_VAULT}.${config.dnsSuffix}:${port}`,
      tls.caFile ? `TLS: certificate from the local CA ${tls.caFile} (NODE_EXTRA_CA_CERTS)` : `TLS: the certificate ${config.tlsCert}`,
      `Audit log: ${config.auditLog}`,
      "",
      "For a program's environment (IDENTITY_ENDPOINT, IDENTITY_HEADER, ...), run in another terminal:",
      `  eval "$(npx lockbox env --data-dir ${shellQuote(config.dataDir)})"`,
      `Names under .localhost need a hosts line: echo "127.0.0.1 ${DEFAULT_VAULT}.${config.dnsSuffix}" | sudo tee -a /etc/hosts`,
      "",
    ].join("\n"),
  );
}
