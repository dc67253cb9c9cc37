import { Command, Option } from "commander";
import {
  resolveConfig,
  dataDirOf,
  parsePort,
  DEFAULT_DNS_SUFFIX,
  DEFAULT_KEEP_ALIVE_TIMEOUT_SECONDS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_PORT,
  DEFAULT_REQUEST_TIMEOUT_SECONDS,
} from "../server/config.ts";
import { asShell, azLines, clientEnvironment, readRuntimeInfo, SHELLS, type Shell } from "../server/environment.ts";
import { openInstance, type Instance } from "../server/instance.ts";
import { serve } from "../server/serve.ts";
import { KvError, vaultNotFound } from "../kernel/errors.ts";
import { BUILT_IN_ROLES } from "../authz/roles.ts";
import { PERMISSIONS } from "../authz/operations.ts";
import type { IdentityKind, IdentityRecord } from "../store/store.ts";
import { secretPolicyWire } from "../api/policies.ts";
import { join } from "node:path";
import { existsSync, readFileSync } from "node:fs";

// Every file Lockbox makes (database, WAL, keys, server state) is its user's alone.
process.umask(0o077);

/** The version in package.json (two folders up from src/cli/ and from dist/cli/). */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

const program = new Command();
program
  .name("lockbox")
  .description("A self-hosted Azure Key Vault for the official Azure SDKs.")
  .version(packageVersion(), "-V, --version", "print Lockbox's version");

const dataDirOption = () => new Option("--data-dir <dir>", "data directory (env LOCKBOX_DATA_DIR, default ./.lockbox)");

/** Runs a command against the data directory's store; works while a server runs on it. */
async function withInstance(dataDir: string | undefined, fn: (i: Instance) => Promise<void>): Promise<void> {
  const instance = await openInstance(dataDirOf(dataDir), process.env, { existing: true });
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
  .option("--init", "begin a new instance on an empty store, even though a root key was given or the data directory names an instance")
  .action(async (opts) => {
    await serve(resolveConfig(opts));
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
    const dataDir = dataDirOf(opts.dataDir);
    const running = readRuntimeInfo(dataDir);
    const port = opts.port !== undefined ? parsePort(opts.port) : (running?.port ?? DEFAULT_PORT);
    const dnsSuffix = opts.dnsSuffix ?? running?.dnsSuffix ?? DEFAULT_DNS_SUFFIX;
    const localCa = join(dataDir, "tls", "ca.pem");
    const caFile = running ? running.caFile : existsSync(localCa) ? localCa : undefined;
    await withInstance(opts.dataDir, async (instance) => {
      if (opts.az) return void console.log(azLines(port, dnsSuffix, instance.tenantId));
      const env = await clientEnvironment(instance, port, dnsSuffix, caFile);
      console.log(opts.json ? JSON.stringify(env, null, 2) : asShell(env, opts.shell));
    });
  });

const vault = program.command("vault").description("create, list and delete vaults");
vault
  .command("create <name>")
  .description("create a vault, served at https://NAME.{dns-suffix}:PORT")
  .addOption(dataDirOption())
  .option("--retention-days <days>", "soft-delete retention, 7 to 90 days", "90")
  .option("--purge-protection", "refuse purges; deleted objects go only when their retention ends")
  .option("--access-policies", "authorize with access policies instead of Azure RBAC (enableRbacAuthorization false)")
  .action(async (name: string, opts: { dataDir?: string; retentionDays: string; purgeProtection?: boolean; accessPolicies?: boolean }) => {
    await withInstance(opts.dataDir, async (i) => {
      const v = await i.vaults.create(name, {
        retentionDays: Number(opts.retentionDays),
        purgeProtection: opts.purgeProtection,
        rbac: !opts.accessPolicies,
      });
      console.log(`created vault ${v.name} (${v.recoveryLevel}, ${v.retentionDays} days)`);
    });
  });
vault
  .command("list")
  .description("list the vaults")
  .addOption(dataDirOption())
  .action(async (opts: { dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      for (const v of await i.vaults.list())
        console.log(`${v.name}\t${v.recoveryLevel}\t${v.retentionDays} days\t${v.rbac ? "rbac" : "access policies"}`);
    });
  });
vault
  .command("authorization <name> <model>")
  .description("switch a vault between Azure RBAC (rbac) and access policies (access-policies)")
  .addOption(dataDirOption())
  .action(async (name: string, model: string, opts: { dataDir?: string }) => {
    if (model !== "rbac" && model !== "access-policies") throw new Error("the model is rbac or access-policies");
    await withInstance(opts.dataDir, async (i) => {
      await i.vaults.setRbac(name, model === "rbac");
      console.log(`vault ${name.toLowerCase()} now uses ${model}`);
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

/** What a new identity's credential looks like to its user. */
function printCredential(i: Instance, identity: IdentityRecord, credential: string, json: boolean | undefined): void {
  if (identity.kind === "managed") {
    if (json)
      console.log(JSON.stringify({ name: identity.name, objectId: identity.id, clientId: identity.clientId, identityHeader: credential }));
    else console.log(`managed identity ${identity.name} (object id ${identity.id})\nexport IDENTITY_HEADER='${credential}'`);
    return;
  }
  if (json) {
    console.log(
      JSON.stringify({
        name: identity.name,
        objectId: identity.id,
        tenantId: i.tenantId,
        clientId: identity.clientId,
        clientSecret: credential,
      }),
    );
    return;
  }
  console.log(
    [
      `service principal ${identity.name} (object id ${identity.id})`,
      `export AZURE_TENANT_ID='${i.tenantId}'`,
      `export AZURE_CLIENT_ID='${identity.clientId}'`,
      `export AZURE_CLIENT_SECRET='${credential}'`,
    ].join("\n"),
  );
}

/** `lockbox identity ...` and `lockbox sp ...`: the same commands for both kinds. */
function identityCommands(kind: IdentityKind, noun: string, credentialWord: string): Command {
  const group = new Command(kind === "managed" ? "identity" : "sp").description(`${noun}s`);
  group
    .command("create <name>")
    .description(`create a ${noun} and print its ${credentialWord}`)
    .option("--admin", "a Lockbox administrator: everything in every vault, and the admin API")
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (name: string, opts: { admin?: boolean; json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i) => {
        const { identity, credential } = await i.identities.create(name, kind, { admin: opts.admin });
        printCredential(i, identity, credential, opts.json);
      });
    });
  group
    .command("list")
    .description(`list ${noun}s`)
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (opts: { json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i) => {
        const all = (await i.identities.list()).filter((x) => x.kind === kind).map(({ secretHash: _hidden, ...x }) => x);
        if (opts.json) console.log(JSON.stringify(all, null, 2));
        else
          for (const x of all)
            console.log(`${x.name}\t${x.id}\tclient ${x.clientId}\t${x.enabled ? "enabled" : "disabled"}${x.admin ? "\tadmin" : ""}`);
      });
    });
  for (const [command, description, run] of [
    ["disable", "disable it: its tokens stop working within seconds", (i: Instance, n: string) => i.identities.setEnabled(n, false)],
    ["enable", "enable it again", (i: Instance, n: string) => i.identities.setEnabled(n, true)],
    ["delete", "delete it with its role assignments and access policies", (i: Instance, n: string) => i.identities.delete(n)],
  ] as const) {
    group
      .command(`${command} <name>`)
      .description(description)
      .addOption(dataDirOption())
      .action(async (name: string, opts: { dataDir?: string }) => {
        await withInstance(opts.dataDir, async (i) => {
          const x = await run(i, name);
          console.log(`${command}d ${noun} ${x.name}`);
        });
      });
  }
  group
    .command("rotate <name>")
    .description(`a new ${credentialWord}; the old one stops working`)
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (name: string, opts: { json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i) => {
        const { identity, credential } = await i.identities.rotateCredential(name);
        printCredential(i, identity, credential, opts.json);
      });
    });
  return group;
}
program.addCommand(identityCommands("managed", "managed identity", "IDENTITY_HEADER value"));
program.addCommand(identityCommands("sp", "service principal", "client id and secret"));

const role = program.command("role").description("Azure RBAC role assignments (vaults using RBAC, the default)");
role
  .command("assign")
  .description("assign a built-in Key Vault role to an identity, on the vault or one secret or key")
  .requiredOption("--vault <name>", "the vault")
  .requiredOption("--assignee <name>", "the identity (name, object id or client id)")
  .requiredOption("--role <role>", `one of: ${Object.keys(BUILT_IN_ROLES).join(", ")}`)
  .option("--scope <scope>", "/ (the vault), /secrets/NAME or /keys/NAME", "/")
  .addOption(dataDirOption())
  .action(async (opts: { vault: string; assignee: string; role: string; scope: string; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      const a = await i.access.assignRole(await inVault(i, opts.vault), await i.identities.find(opts.assignee), opts.role, opts.scope);
      console.log(`assigned ${a.role} to ${opts.assignee} on ${a.vault}${a.scope === "/" ? "" : a.scope} (assignment ${a.id})`);
    });
  });
role
  .command("list")
  .description("list a vault's role assignments")
  .requiredOption("--vault <name>", "the vault")
  .option("--assignee <name>", "only this identity's")
  .option("--json", "print JSON")
  .addOption(dataDirOption())
  .action(async (opts: { vault: string; assignee?: string; json?: boolean; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      const principal = opts.assignee ? (await i.identities.find(opts.assignee)).id : undefined;
      const names = new Map((await i.identities.list()).map((x) => [x.id, x.name]));
      const list = await i.access.listRoles(await inVault(i, opts.vault), principal);
      if (opts.json)
        console.log(
          JSON.stringify(
            list.map((a) => ({ ...a, assignee: names.get(a.principal) })),
            null,
            2,
          ),
        );
      else for (const a of list) console.log(`${a.id}\t${names.get(a.principal) ?? a.principal}\t${a.role}\t${a.scope}`);
    });
  });
role
  .command("remove")
  .description("remove role assignments: by id, or an assignee's (optionally one role)")
  .requiredOption("--vault <name>", "the vault")
  .option("--id <id>", "the assignment id")
  .option("--assignee <name>", "the identity")
  .option("--role <role>", "only this role")
  .addOption(dataDirOption())
  .action(async (opts: { vault: string; id?: string; assignee?: string; role?: string; dataDir?: string }) => {
    if (!opts.id && !opts.assignee) throw new Error("give --id or --assignee");
    await withInstance(opts.dataDir, async (i) => {
      const vault = await inVault(i, opts.vault);
      const principal = opts.assignee ? (await i.identities.find(opts.assignee)).id : undefined;
      const doomed = (await i.access.listRoles(vault, principal)).filter(
        (a) => (!opts.id || a.id === opts.id) && (!opts.role || a.role.toLowerCase() === opts.role.toLowerCase()),
      );
      if (doomed.length === 0) throw new Error("no such role assignment");
      for (const a of doomed) await i.access.removeRole(vault, a.id);
      console.log(`removed ${doomed.length} role assignment(s)`);
    });
  });

const policy = program.command("policy").description("access policies (vaults made with --access-policies)");
policy
  .command("set")
  .description("set an identity's access policy on a vault (replaces its permissions)")
  .requiredOption("--vault <name>", "the vault")
  .requiredOption("--assignee <name>", "the identity (name, object id or client id)")
  .option("--secret-permissions <perms...>", `of: ${PERMISSIONS.secrets.join(", ")}, or all`, [])
  .option("--key-permissions <perms...>", `of: ${PERMISSIONS.keys.join(", ")}, or all`, [])
  .option("--certificate-permissions <perms...>", `of: ${PERMISSIONS.certificates.join(", ")}, or all`, [])
  .addOption(dataDirOption())
  .action(
    async (opts: {
      vault: string;
      assignee: string;
      secretPermissions: string[];
      keyPermissions: string[];
      certificatePermissions: string[];
      dataDir?: string;
    }) => {
      await withInstance(opts.dataDir, async (i) => {
        const p = await i.access.setPolicy(await inVault(i, opts.vault), await i.identities.find(opts.assignee), {
          secrets: opts.secretPermissions,
          keys: opts.keyPermissions,
          certificates: opts.certificatePermissions,
        });
        console.log(
          `access policy of ${opts.assignee} on ${p.vault}: secrets [${p.secrets.join(", ")}], keys [${p.keys.join(", ")}], certificates [${p.certificates.join(", ")}]`,
        );
      });
    },
  );
policy
  .command("list")
  .description("list a vault's access policies")
  .requiredOption("--vault <name>", "the vault")
  .option("--json", "print JSON")
  .addOption(dataDirOption())
  .action(async (opts: { vault: string; json?: boolean; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      const names = new Map((await i.identities.list()).map((x) => [x.id, x.name]));
      const list = await i.access.listPolicies(await inVault(i, opts.vault));
      if (opts.json)
        console.log(
          JSON.stringify(
            list.map((p) => ({ ...p, assignee: names.get(p.principal) })),
            null,
            2,
          ),
        );
      else
        for (const p of list)
          console.log(
            `${names.get(p.principal) ?? p.principal}\tsecrets: ${p.secrets.join(",")}\tkeys: ${p.keys.join(",")}\tcertificates: ${p.certificates.join(",")}`,
          );
    });
  });
policy
  .command("remove")
  .description("remove an identity's access policy")
  .requiredOption("--vault <name>", "the vault")
  .requiredOption("--assignee <name>", "the identity")
  .addOption(dataDirOption())
  .action(async (opts: { vault: string; assignee: string; dataDir?: string }) => {
    await withInstance(opts.dataDir, async (i) => {
      await i.access.removePolicy(await inVault(i, opts.vault), await i.identities.find(opts.assignee));
      console.log(`removed the access policy of ${opts.assignee}`);
    });
  });

const vaultOption = () => new Option("--vault <name>", "the vault").default("default");

async function inVault(instance: Instance, name: string) {
  const v = await instance.vaults.find(name);
  if (!v) throw vaultNotFound(name.toLowerCase());
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
      else
        for (const s of subs)
          console.log(
            `${s.id}\t${s.vault}\t${s.endpoint}\t${s.schema}\t${s.validated ? "validated" : "awaiting validation"}\t${s.types?.join(",") ?? "all"}`,
          );
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
      if (opts.keep === undefined && !opts.versions && opts.maxVersions === undefined)
        throw new Error("give --keep, --versions or --max-versions");
      await withInstance(opts.dataDir, async (i) => {
        const objects = kind === "secret" ? i.secrets.objects : i.keys.objects;
        const vault = await inVault(i, opts.vault);
        let pruned: string[] = [];
        if (opts.keep !== undefined || opts.versions)
          pruned = await objects.prune(vault, name, { keep: opts.keep, versions: opts.versions });
        if (opts.maxVersions !== undefined) {
          pruned = pruned.concat(await objects.setMaxVersions(vault, name, opts.maxVersions === "none" ? null : Number(opts.maxVersions)));
        }
        console.log(
          pruned.length ? `destroyed ${pruned.length} version(s) of ${name}: ${pruned.join(" ")}` : `no version of ${name} destroyed`,
        );
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
        : (await i.secrets.getRotationPolicy(vault, name)).policy;
      console.log(JSON.stringify(secretPolicyWire(policy), null, 2));
    });
  });
program.command("key").description("key version pruning, beyond Azure").addCommand(pruneCommand("key"));

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`lockbox: ${e instanceof KvError || e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
