import { Command, Option } from "commander";
import { resolveConfig, dataDirOf, parsePort, DEFAULT_DNS_SUFFIX, DEFAULT_PORT } from "../server/config.ts";
import { asShell, clientEnvironment, readRuntimeInfo } from "../server/environment.ts";
import { openInstance, type Instance } from "../server/instance.ts";
import { serve } from "../server/serve.ts";
import { KvError } from "../vault/errors.ts";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";

const program = new Command();
program.name("lockbox").description("A self-hosted Azure Key Vault for the official Azure SDKs.");

const dataDirOption = () => new Option("--data-dir <dir>", "data directory (env LOCKBOX_DATA_DIR, default ./.lockbox)");

/** Runs a command against the data directory's store; works while a server runs on it. */
async function withInstance(dataDir: string | undefined, fn: (i: Instance) => Promise<void>): Promise<void> {
  const instance = await openInstance(dataDirOf(dataDir));
  try {
    await fn(instance);
  } finally {
    await instance.close();
  }
}

program
  .command("serve")
  .description("run the HTTPS server")
  .option("--host <host>", "address to listen on (env LOCKBOX_HOST)", undefined)
  .option("--port <port>", `port to listen on, 0 for any free port (env LOCKBOX_PORT, default ${DEFAULT_PORT})`)
  .addOption(dataDirOption())
  .option("--dns-suffix <suffix>", `vault hosts are {vault}.SUFFIX (env LOCKBOX_DNS_SUFFIX, default ${DEFAULT_DNS_SUFFIX})`)
  .option("--tls-cert <file>", "an operator's certificate (PEM) instead of the local CA's (env LOCKBOX_TLS_CERT)")
  .option("--tls-key <file>", "the key of --tls-cert (PEM) (env LOCKBOX_TLS_KEY)")
  .option("--log-level <level>", "fatal, error, warn, info, debug or trace (env LOCKBOX_LOG_LEVEL)")
  .option("--dev-clock", "for tests: a clock that GET/POST /lockbox/v1/clock reads and moves forward (env LOCKBOX_DEV_CLOCK=1)")
  .action(async (opts) => {
    await serve(resolveConfig(opts));
  });

program
  .command("env")
  .description("print the environment a client program needs (NODE_EXTRA_CA_CERTS, IDENTITY_ENDPOINT, IDENTITY_HEADER, TENANT_ID, KEYVAULT_URL)")
  .addOption(dataDirOption())
  .option("--port <port>", "the server's port (default: the running server's, else 8443)")
  .option("--dns-suffix <suffix>", "the server's DNS suffix (default: the running server's)")
  .option("--json", "print one JSON object instead of shell export lines")
  .action(async (opts: { dataDir?: string; port?: string; dnsSuffix?: string; json?: boolean }) => {
    const dataDir = dataDirOf(opts.dataDir);
    const running = readRuntimeInfo(dataDir);
    const port = opts.port !== undefined ? parsePort(opts.port) : (running?.port ?? DEFAULT_PORT);
    const dnsSuffix = opts.dnsSuffix ?? running?.dnsSuffix ?? DEFAULT_DNS_SUFFIX;
    const localCa = join(dataDir, "tls", "ca.pem");
    const caFile = running ? running.caFile : existsSync(localCa) ? localCa : undefined;
    await withInstance(opts.dataDir, async (instance) => {
      const env = await clientEnvironment(instance, port, dnsSuffix, caFile);
      console.log(opts.json ? JSON.stringify(env, null, 2) : asShell(env));
    });
  });

const vault = program.command("vault").description("create, list and delete vaults");
vault
  .command("create <name>")
  .description("create a vault, served at https://NAME.{dns-suffix}:PORT")
  .addOption(dataDirOption())
  .option("--retention-days <days>", "soft-delete retention, 7 to 90 days", "90")
  .option("--purge-protection", "refuse purges; deleted objects go only when their retention ends")
  .action(async (name: string, opts: { dataDir?: string; retentionDays: string; purgeProtection?: boolean }) => {
    await withInstance(opts.dataDir, async (i) => {
      const v = await i.vaults.create(name, { retentionDays: Number(opts.retentionDays), purgeProtection: opts.purgeProtection });
      console.log(`created vault ${v.name} (${v.recoveryLevel}, ${v.retentionDays} days)`);
    });
  });
vault
  .command("list")
  .description("list the vaults")
  .addOption(dataDirOption())
  .action(async (opts: { dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      for (const v of await i.vaults.list()) console.log(`${v.name}\t${v.recoveryLevel}\t${v.retentionDays} days`);
    });
  });
vault
  .command("delete <name>")
  .description("delete a vault and everything in it")
  .addOption(dataDirOption())
  .action(async (name: string, opts: { dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      await i.vaults.delete(name);
      console.log(`deleted vault ${name.toLowerCase()}`);
    });
  });

program
  .command("identity")
  .description("managed identities")
  .command("create <name>")
  .description("create a managed identity and print its IDENTITY_HEADER value")
  .addOption(dataDirOption())
  .option("--json", "print JSON")
  .action(async (name: string, opts: { dataDir?: string; json?: boolean }) => {
    await withInstance(opts.dataDir, async (i) => {
      const { identity, credential } = await i.identities.create(name, "managed");
      if (opts.json) console.log(JSON.stringify({ name, objectId: identity.id, clientId: identity.clientId, identityHeader: credential }));
      else console.log(`created managed identity ${name} (object id ${identity.id})\nexport IDENTITY_HEADER='${credential}'`);
    });
  });

program
  .command("sp")
  .description("service principals")
  .command("create <name>")
  .description("create a service principal and print its client id and secret")
  .addOption(dataDirOption())
  .option("--json", "print JSON")
  .action(async (name: string, opts: { dataDir?: string; json?: boolean }) => {
    await withInstance(opts.dataDir, async (i) => {
      const { identity, credential } = await i.identities.create(name, "sp");
      if (opts.json) {
        console.log(JSON.stringify({ name, objectId: identity.id, tenantId: i.tenantId, clientId: identity.clientId, clientSecret: credential }));
      } else {
        console.log(
          [
            `created service principal ${name} (object id ${identity.id})`,
            `export AZURE_TENANT_ID='${i.tenantId}'`,
            `export AZURE_CLIENT_ID='${identity.clientId}'`,
            `export AZURE_CLIENT_SECRET='${credential}'`,
          ].join("\n"),
        );
      }
    });
  });

const vaultOption = () => new Option("--vault <name>", "the vault").default("default");

async function inVault(instance: Instance, name: string) {
  const v = await instance.vaults.find(name);
  if (!v) throw new Error(`there is no vault named '${name}'`);
  return v;
}

const events = program.command("events").description("Key Vault events to webhooks (Event Grid or CloudEvents schema)");
events
  .command("subscribe")
  .description("send a vault's events to a webhook; it gets Event Grid's validation handshake first")
  .addOption(vaultOption())
  .requiredOption("--endpoint <url>", "the webhook URL")
  .addOption(new Option("--schema <schema>", "envelope").choices(["eventgrid", "cloudevents"]).default("eventgrid"))
  .option("--types <types...>", "event types to send, e.g. KeyNewVersionCreated SecretNearExpiry (default: all)")
  .addOption(dataDirOption())
  .action(async (opts: { vault: string; endpoint: string; schema: string; types?: string[]; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      const s = await i.subscriptions.subscribe({ vault: opts.vault, endpoint: opts.endpoint, schema: opts.schema, types: opts.types });
      console.log(`subscribed ${s.id}: ${s.vault} -> ${s.endpoint} (${s.schema}${s.types ? `; ${s.types.join(", ")}` : ""})`);
    });
  });
events
  .command("list")
  .description("list event subscriptions")
  .option("--vault <name>", "only this vault's")
  .option("--json", "print JSON")
  .addOption(dataDirOption())
  .action(async (opts: { vault?: string; json?: boolean; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      const subs = await i.subscriptions.list(opts.vault);
      if (opts.json) console.log(JSON.stringify(subs, null, 2));
      else for (const s of subs) console.log(`${s.id}\t${s.vault}\t${s.endpoint}\t${s.schema}\t${s.validated ? "validated" : "awaiting validation"}\t${s.types?.join(",") ?? "all"}`);
    });
  });
events
  .command("delete <id>")
  .description("delete an event subscription and what it still had to deliver")
  .addOption(dataDirOption())
  .action(async (id: string, opts: { dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      await i.subscriptions.delete(id);
      console.log(`deleted subscription ${id}`);
    });
  });

const secret = program.command("secret").description("secret rotation and version pruning, beyond Azure");
secret
  .command("rotate <name>")
  .description("a new version and the previous one disabled, in one transaction")
  .addOption(vaultOption())
  .addOption(new Option("--value <value>", "the new value").conflicts("generate"))
  .option("--generate", "a random value (the rotation policy's generator, or 32 characters)")
  .addOption(dataDirOption())
  .action(async (name: string, opts: { vault: string; value?: string; generate?: boolean; dataDir?: string }) => {
    if (opts.value === undefined && !opts.generate) throw new Error("give --value or --generate");
    await withInstance(opts.dataDir, async (i) => {
      const s = await i.secrets.rotate(await inVault(i, opts.vault), name, opts.value);
      console.log(`rotated ${name}: new version ${s.version.version}; the previous version is disabled`);
    });
  });
const pruneCommand = (kind: "secret" | "key") =>
  new Command("prune")
    .argument("<name>")
    .description(`destroy old versions of a ${kind} for good (never the current one)`)
    .addOption(vaultOption())
    .option("--keep <n>", "keep the newest N versions", (v) => Number(v))
    .option("--versions <versions...>", "destroy these versions")
    .option("--max-versions <n>", "from now on keep at most N versions ('none' for no limit)")
    .addOption(dataDirOption())
    .action(async (name: string, opts: { vault: string; keep?: number; versions?: string[]; maxVersions?: string; dataDir?: string }) => {
      if (opts.keep === undefined && !opts.versions && opts.maxVersions === undefined) throw new Error("give --keep, --versions or --max-versions");
      await withInstance(opts.dataDir, async (i) => {
        const objects = kind === "secret" ? i.secrets.objects : i.keys.objects;
        const vault = await inVault(i, opts.vault);
        let pruned: string[] = [];
        if (opts.keep !== undefined || opts.versions) pruned = await objects.prune(vault, name, { keep: opts.keep, versions: opts.versions });
        if (opts.maxVersions !== undefined) {
          pruned = pruned.concat(await objects.setMaxVersions(vault, name, opts.maxVersions === "none" ? null : Number(opts.maxVersions)));
        }
        console.log(pruned.length ? `destroyed ${pruned.length} version(s) of ${name}: ${pruned.join(" ")}` : `no version of ${name} destroyed`);
      });
    });
secret.addCommand(pruneCommand("secret"));
secret
  .command("policy")
  .description("show or set a secret's rotation policy")
  .argument("<name>")
  .addOption(vaultOption())
  .option("--file <file>", "set the policy from this JSON file (- for stdin): lifetimeActions, attributes.expiryTime, generator, overlap")
  .addOption(dataDirOption())
  .action(async (name: string, opts: { vault: string; file?: string; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      const vault = await inVault(i, opts.vault);
      const policy = opts.file
        ? await i.secrets.setRotationPolicy(vault, name, JSON.parse(readFileSync(opts.file === "-" ? 0 : opts.file, "utf8")))
        : await i.secrets.getRotationPolicy(vault, name);
      console.log(JSON.stringify(policy ?? {}, null, 2));
    });
  });
program.command("key").description("key version pruning, beyond Azure").addCommand(pruneCommand("key"));

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`lockbox: ${e instanceof KvError || e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
