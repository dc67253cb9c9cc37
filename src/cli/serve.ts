import { Command, Option } from "commander";
import {
  resolveConfig,
  dataDirOf,
  type ConfigFlags,
  DEFAULT_DNS_SUFFIX,
  DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
} from "../server/config.ts";
import { openInstance } from "../server/instance.ts";
import { serve, temporaryDataDir } from "../server/serve.ts";
import { serveWorkers } from "../server/workers.ts";
import { dataDirOption } from "./common.ts";

export function serveCommands(program: Command): void {
  program
    .command("serve")
    .description("run the HTTPS server")
    .option("--host <host>", "address to listen on (env LOCKBOX_HOST)", undefined)
    .option("--port <port>", `port to listen on, 0 for any free port (env LOCKBOX_PORT, default ${DEFAULT_PORT})`)
    .addOption(dataDirOption())
    .option("--dns-suffix <suffix>", `vault hosts are {vault}.SUFFIX (env LOCKBOX_DNS_SUFFIX, default ${DEFAULT_DNS_SUFFIX})`)
    .option("--tls-cert <file>", "an operator's certificate (PEM) instead of the local CA's (env LOCKBOX_TLS_CERT)")
    .option("--tls-key <file>", "the key of --tls-cert (PEM) (env LOCKBOX_TLS_KEY)")
    .option("--log-level <level>", "fatal, error, warn, info, debug, trace or silent (env LOCKBOX_LOG_LEVEL, default info)")
    .option(
      "--log-format <format>",
      "pretty (one human line per event) or json (one JSON object per line) (env LOCKBOX_LOG_FORMAT; default pretty on a terminal, else json)",
    )
    .option(
      "--metrics-port <port>",
      "also serve Prometheus metrics over plain HTTP at http://127.0.0.1:PORT/metrics (env LOCKBOX_METRICS_PORT; GET /metrics on the HTTPS port always)",
    )
    .option("--audit-log <file>", "append AuditEvent lines here (env LOCKBOX_AUDIT_LOG, default DATA-DIR/audit.log)")
    .option("--dev-clock", "for tests: a clock that GET/POST /lockbox/v1/clock reads and moves forward (env LOCKBOX_DEV_CLOCK=1)")
    .addOption(
      new Option("--storage <engine>", "sqlite (in the data directory) or postgres (env LOCKBOX_STORAGE)").choices(["sqlite", "postgres"]),
    )
    .option(
      "--postgres-url <url>",
      "the PostgreSQL database, e.g. postgres://user@host/lockbox (env LOCKBOX_POSTGRES_URL; implies --storage postgres)",
    )
    .option(
      "--request-timeout <seconds>",
      `a whole request must arrive within this long, its headers within 10 s (env LOCKBOX_REQUEST_TIMEOUT, default ${DEFAULT_REQUEST_TIMEOUT_SECONDS})`,
    )
    .option(
      "--keep-alive-timeout <seconds>",
      `idle keep-alive connections are closed after this long (env LOCKBOX_KEEP_ALIVE_TIMEOUT, default ${DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS})`,
    )
    .option(
      "--max-connections <n>",
      `at most this many connections at once; more are closed at once (env LOCKBOX_MAX_CONNECTIONS, default ${DEFAULT_MAX_CONNECTIONS})`,
    )
    .option("--no-console", "do not serve the web console at https://127.0.0.1:PORT/console/ (env LOCKBOX_CONSOLE=0)")
    .option("--seed <file>", "apply this seed file (see lockbox seed) once the server has started, before it is announced")
    .option(
      "--in-memory",
      "keep the store in memory, gone when the server stops (tests); without --data-dir, also the TLS files, in a temporary data directory removed at exit",
    )
    .addOption(
      new Option(
        "--throttle <mode>",
        "azure: answer 429 as Azure would at this load, per vault and instance-wide (env LOCKBOX_THROTTLE, default off)",
      ).choices(["azure", "off"]),
    )
    .option(
      "--throttle-retry-after <seconds>",
      "omit (as Azure) or a Retry-After in seconds on each 429 (env LOCKBOX_THROTTLE_RETRY_AFTER, default omit)",
    )
    .option(
      "--throttle-scale <factor>",
      "multiply every throttling budget, e.g. 0.01 for 40 instead of 4,000 (env LOCKBOX_THROTTLE_SCALE, default 1)",
    )
    .option(
      "--workers <n>",
      "serve HTTPS from N processes on one port (auto: one per core), with one scheduler and one set of fault rules, throttling counts and console sessions (env LOCKBOX_WORKERS, default 1)",
    )
    .option("--init", "begin a new instance on an empty store, even though a root key was given or the data directory names an instance")
    .action(async (opts: ConfigFlags & { seed?: string }) => {
      const temporary = opts.inMemory && opts.dataDir === undefined && !process.env.LOCKBOX_DATA_DIR;
      const config = resolveConfig(temporary ? { ...opts, dataDir: temporaryDataDir() } : opts);
      if (config.workers > 1) await serveWorkers(config, { seedFile: opts.seed });
      else await serve(config, { removeDataDir: temporary, seedFile: opts.seed });
    });

  program
    .command("init")
    .description("create a new, empty store in the data directory (lockbox serve also does on its first start)")
    .addOption(dataDirOption())
    .action(async (opts: { dataDir?: string }) => {
      const dataDir = dataDirOf(opts.dataDir);
      const instance = await openInstance(dataDir);
      try {
        console.log(`Lockbox data in ${dataDir}: tenant ${instance.tenantId}, the vault default, and the developer identity.`);
      } finally {
        await instance.close();
      }
    });
}
