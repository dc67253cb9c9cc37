import { isoSeconds } from "../kernel/clock.ts";
import { Command, Option } from "commander";
import { readFileSync } from "node:fs";
import { secretPolicyWire } from "../api/policies.ts";
import { secretBundle, secretItem } from "../api/secrets.ts";
import { keyBundle, keyItem } from "../api/keys.ts";
import { deletedFieldsOf } from "../api/wire.ts";
import type { Page } from "../vault/objects.ts";
import type { Version } from "../vault/versions.ts";
import type { Vault } from "../vault/vaults.ts";
import { KINDS } from "../kernel/kinds.ts";
import type { Instance } from "../server/instance.ts";
import { confirm, dataDirOption, inVault, publicOrigin, readValue, vaultOption, withInstance, type Audited } from "./common.ts";

/** Every page of a listing, in order. */
async function all<T>(page: (cursor: string | undefined) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const p = await page(cursor);
    items.push(...p.items);
    cursor = p.cursor;
  } while (cursor);
  return items;
}

const PAGE = 25;
const seconds = (iso: string | undefined, what: string): number | undefined => {
  if (iso === undefined) return undefined;
  const s = isoSeconds(iso);
  if (s === undefined) throw new Error(`${what} must be an ISO 8601 date and time, e.g. 2027-01-31T00:00:00Z: ${iso} is not`);
  return s;
};
const isoOf = (s: number | null | undefined): string => (s ? new Date(s * 1000).toISOString() : "-");
const tagsOf = (pairs: string[] | undefined): Record<string, string> | undefined =>
  pairs &&
  Object.fromEntries(
    pairs.map((p) => {
      const at = p.indexOf("=");
      if (at < 1) throw new Error(`a tag is NAME=VALUE: ${p} is not`);
      return [p.slice(0, at), p.slice(at + 1)];
    }),
  );
const json = (v: unknown): void => console.log(JSON.stringify(v, null, 2));

type DataOpts = { vault: string; dataDir?: string; json?: boolean };

/** The command's context: the instance, the vault and its public origin, and the audited runner. */
async function inVaultOf(
  opts: DataOpts,
  fn: (c: { i: Instance; vault: Awaited<ReturnType<typeof inVault>>; origin: string; audited: Audited }) => Promise<void>,
): Promise<void> {
  await withInstance(opts.dataDir, async (i, audited) => {
    const vault = await inVault(i, opts.vault);
    await fn({ i, vault, origin: publicOrigin(i.dataDir)(vault.name), audited });
  });
}

const dataCommand = (parent: Command, usage: string, description: string): Command =>
  parent
    .command(usage)
    .description(description)
    .addOption(vaultOption())
    .option("--json", "print the REST API's JSON")
    .addOption(dataDirOption());

const pruneCommand = (kind: "secret" | "key") =>
  new Command("prune")
    .argument("<name>")
    .description(`destroy old versions of a ${kind} for good (never the current one)`)
    .addOption(vaultOption())
    .option("--keep <n>", "keep the newest N versions", (v) => Number(v))
    .option("--versions <versions...>", "destroy these versions")
    .option("--max-versions <n>", "from now on keep at most N versions ('none' for no limit)")
    .option("--dry-run", "list the versions that would be destroyed, and destroy none")
    .option("--yes", "do not ask: destroy them")
    .addOption(dataDirOption())
    .action(
      async (
        name: string,
        opts: {
          vault: string;
          keep?: number;
          versions?: string[];
          maxVersions?: string;
          dryRun?: boolean;
          yes?: boolean;
          dataDir?: string;
        },
      ) => {
        if (opts.keep === undefined && !opts.versions && opts.maxVersions === undefined)
          throw new Error("give --keep, --versions or --max-versions");
        await inVaultOf(opts, async ({ i, vault, audited }) => {
          const objects = kind === "secret" ? i.secrets.objects : i.keys.objects;
          const which = { keep: opts.keep, versions: opts.versions };
          const max = opts.maxVersions === undefined ? undefined : opts.maxVersions === "none" ? null : Number(opts.maxVersions);
          if (opts.dryRun) {
            const keep = max === null || max === undefined ? opts.keep : Math.min(opts.keep ?? max, max);
            const doomed = await objects.prune(vault, name, { ...which, keep, dryRun: true });
            console.log(
              doomed.length
                ? `would destroy ${doomed.length} version(s) of ${name}: ${doomed.join(" ")}`
                : `no version of ${name} would be destroyed`,
            );
            return;
          }
          await confirm(opts.yes, `This destroys old versions of the ${kind} ${name} in ${vault.name} for good`, name);
          const target = { vault: vault.name, collection: kind === "secret" ? "secrets" : "keys", name, command: `${kind} prune` } as const;
          const operation = kind === "secret" ? "SecretPrune" : "KeyPrune";
          let pruned: string[] = [];
          if (opts.keep !== undefined || opts.versions) pruned = await audited(operation, target, () => objects.prune(vault, name, which));
          if (max !== undefined)
            pruned = pruned.concat(
              await audited(kind === "secret" ? "SecretSetMaxVersions" : "KeySetMaxVersions", target, () =>
                objects.setMaxVersions(vault, name, max),
              ),
            );
          console.log(
            pruned.length ? `destroyed ${pruned.length} version(s) of ${name}: ${pruned.join(" ")}` : `no version of ${name} destroyed`,
          );
        });
      },
    );

/** What the commands every kind has (list, versions, delete, recover, purge) need of one kind. */
interface KindCommands<V extends Version<unknown, unknown>> {
  kind: "secret" | "key";
  objects: (i: Instance) => {
    list(vault: Vault, limit: number, cursor?: string): Promise<Page<V>>;
    listVersions(vault: Vault, name: string, limit: number, cursor?: string): Promise<Page<V>>;
    delete(vault: Vault, name: string): Promise<V>;
    recover(vault: Vault, name: string): Promise<V>;
    purge(vault: Vault, name: string): Promise<void>;
  };
  bundle: (origin: string, vault: Vault, v: V) => object;
  item: (origin: string, vault: Vault, v: V, versioned: boolean) => object;
  /** One object in `list`. */
  line: (v: V) => string;
}

/** `list`, `versions`, `delete`, `recover` and `purge` of one kind, audited under its operation names. */
function lifecycleCommands<V extends Version<unknown, unknown>>(group: Command, k: KindCommands<V>): void {
  const { Noun, collection } = KINDS[k.kind];
  const ref = (vault: string, name: string, command: string) => ({ vault, collection, name, command: `${k.kind} ${command}` });
  const objectsOf = k.objects;

  dataCommand(group, "list", `list a vault's ${collection}`).action(async (opts: DataOpts) => {
    await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
      const items = await audited(`${Noun}List`, { vault: vault.name, command: `${k.kind} list` }, () =>
        all((cursor) => objectsOf(i).list(vault, PAGE, cursor)),
      );
      if (opts.json) return json(items.map((v) => k.item(origin, vault, v, false)));
      for (const v of items) console.log(k.line(v));
    });
  });

  dataCommand(group, "versions <name>", `list a ${k.kind}'s versions`).action(async (name: string, opts: DataOpts) => {
    await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
      const items = await audited(`${Noun}ListVersions`, ref(vault.name, name, "versions"), () =>
        all((cursor) => objectsOf(i).listVersions(vault, name, PAGE, cursor)),
      );
      if (opts.json) return json(items.map((v) => k.item(origin, vault, v, true)));
      for (const v of items) console.log(`${v.version}\t${v.enabled ? "enabled" : "disabled"}\tcreated ${isoOf(v.created)}`);
    });
  });

  dataCommand(group, "delete <name>", `delete a ${k.kind} (soft delete: recoverable until its retention ends)`).action(
    async (name: string, opts: DataOpts) => {
      await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
        const v = await audited(`${Noun}Delete`, ref(vault.name, name, "delete"), () => objectsOf(i).delete(vault, name));
        if (opts.json) return json({ ...k.bundle(origin, vault, v), ...deletedFieldsOf(origin, `deleted${collection}`, v) });
        const purge = v.object.purgeAt ? `; purged at ${isoOf(v.object.purgeAt)}` : "";
        console.log(`deleted ${k.kind} ${v.object.displayName} in ${vault.name}${purge}`);
      });
    },
  );

  dataCommand(group, "recover <name>", `recover a deleted ${k.kind}`).action(async (name: string, opts: DataOpts) => {
    await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
      const v = await audited(`${Noun}Recover`, ref(vault.name, name, "recover"), () => objectsOf(i).recover(vault, name));
      if (opts.json) return json(k.bundle(origin, vault, v));
      console.log(`recovered ${k.kind} ${v.object.displayName} in ${vault.name}`);
    });
  });

  dataCommand(group, "purge <name>", `purge a deleted ${k.kind} for good`)
    .option("--yes", "do not ask")
    .action(async (name: string, opts: DataOpts & { yes?: boolean }) => {
      await inVaultOf(opts, async ({ i, vault, audited }) => {
        await confirm(opts.yes, `This purges the deleted ${k.kind} ${name} in ${vault.name} for good`, name);
        await audited(`${Noun}Purge`, ref(vault.name, name, "purge"), () => objectsOf(i).purge(vault, name));
        if (!opts.json) console.log(`purged ${k.kind} ${name} in ${vault.name}`);
      });
    });
}

/** `lockbox secret ...`: the data plane's secret operations, and rotation and pruning beyond Azure. */
function secretCommands(program: Command): void {
  const secret = program.command("secret").description("set, read, list and delete secrets; rotation and version pruning, beyond Azure");
  const ref = (vault: string, name: string) => ({ vault, collection: "secrets", name }) as const;

  dataCommand(secret, "set <name>", "set a new version from standard input or --file (never from the command line)")
    .option("--file <file>", "the value is this file's content, exactly (- for standard input, exactly)")
    .option("--content-type <type>", "its content type, e.g. text/plain")
    .option("--tags <tags...>", "tags, as NAME=VALUE")
    .option("--expires <time>", "expiry (ISO 8601)")
    .option("--not-before <time>", "not valid before (ISO 8601)")
    .option("--disabled", "create the version disabled")
    .action(
      async (
        name: string,
        opts: DataOpts & { file?: string; contentType?: string; tags?: string[]; expires?: string; notBefore?: string; disabled?: boolean },
      ) => {
        const value = await readValue(opts.file);
        const input = {
          value,
          contentType: opts.contentType,
          tags: tagsOf(opts.tags),
          exp: seconds(opts.expires, "--expires"),
          nbf: seconds(opts.notBefore, "--not-before"),
          enabled: opts.disabled ? false : undefined,
        };
        await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
          const s = await audited("SecretSet", { ...ref(vault.name, name), command: "secret set" }, () =>
            i.secrets.set(vault, name, input),
          );
          if (opts.json) json(secretBundle(origin, vault, s.version));
          else console.log(`set secret ${s.version.object.displayName} in ${vault.name}: version ${s.version.version}`);
        });
      },
    );

  dataCommand(secret, "get <name>", "print a secret's value (the current version, or --version)")
    .option("--version <version>", "this version")
    .action(async (name: string, opts: DataOpts & { version?: string }) => {
      await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
        const s = await audited("SecretGet", { ...ref(vault.name, name), command: "secret get" }, () =>
          i.secrets.get(vault, name, opts.version),
        );
        if (opts.json) json(secretBundle(origin, vault, s.version, s.value));
        else process.stdout.write(s.value.endsWith("\n") ? s.value : `${s.value}\n`);
      });
    });

  dataCommand(secret, "show <name>", "show a version's attributes, tags and content type (not its value)")
    .option("--version <version>", "this version")
    .action(async (name: string, opts: DataOpts & { version?: string }) => {
      await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
        const v = await audited("SecretGet", { ...ref(vault.name, name), command: "secret show" }, () =>
          i.secrets.objects.get(vault, name, opts.version),
        );
        const body = secretBundle(origin, vault, v);
        if (opts.json) return json(body);
        console.log(
          [
            `id\t${body.id}`,
            `enabled\t${v.enabled}`,
            `created\t${isoOf(v.created)}`,
            `updated\t${isoOf(v.updated)}`,
            `not before\t${isoOf(v.nbf)}`,
            `expires\t${isoOf(v.exp)}`,
            `content type\t${v.contentType ?? "-"}`,
            `tags\t${
              v.tags
                ? Object.entries(v.tags)
                    .map(([k, x]) => `${k}=${x}`)
                    .join(" ")
                : "-"
            }`,
          ].join("\n"),
        );
      });
    });

  lifecycleCommands(secret, {
    kind: "secret",
    objects: (i) => i.secrets.objects,
    bundle: secretBundle,
    item: secretItem,
    line: (v) => `${v.object.displayName}\t${v.enabled ? "enabled" : "disabled"}\tupdated ${isoOf(v.updated)}`,
  });
  secret
    .command("rotate <name>")
    .description("a new version and the previous one disabled, in one transaction")
    .addOption(vaultOption())
    .addOption(new Option("--file <file>", "the new value is this file's content (- for standard input)").conflicts("generate"))
    .option("--generate", "a random value (the rotation policy's generator, or 32 characters)")
    .addOption(dataDirOption())
    .action(async (name: string, opts: { vault: string; file?: string; generate?: boolean; dataDir?: string }) => {
      const value = opts.generate ? undefined : await readValue(opts.file);
      await inVaultOf(opts, async ({ i, vault, audited }) => {
        const s = await audited("SecretRotate", { ...ref(vault.name, name), command: "secret rotate" }, () =>
          i.secrets.rotate(vault, name, value),
        );
        console.log(`rotated ${name}: new version ${s.version.version}; the previous version is disabled`);
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
      await inVaultOf(opts, async ({ i, vault, audited }) => {
        const target = { ...ref(vault.name, name), command: "secret policy" };
        const policy = opts.file
          ? await audited("SecretSetRotationPolicy", target, () =>
              i.secrets.setRotationPolicy(vault, name, JSON.parse(readFileSync(opts.file === "-" ? 0 : opts.file!, "utf8"))),
            )
          : (await audited("SecretGetRotationPolicy", target, () => i.secrets.getRotationPolicy(vault, name))).policy;
        console.log(JSON.stringify(secretPolicyWire(policy), null, 2));
      });
    });
}

/** `lockbox key ...`: create, read, rotate and delete keys; version pruning, beyond Azure. */
function keyCommands(program: Command): void {
  const key = program.command("key").description("create, show, list, rotate and delete keys; version pruning, beyond Azure");
  const ref = (vault: string, name: string) => ({ vault, collection: "keys", name }) as const;

  dataCommand(key, "create <name>", "create a key (a new version if it exists)")
    .addOption(new Option("--kty <kty>", "key type").choices(["RSA", "EC", "RSA-HSM", "EC-HSM", "oct-HSM"]).default("RSA"))
    .option("--size <bits>", "RSA: 2048, 3072 or 4096; oct-HSM: 128, 192 or 256", (v) => Number(v))
    .option("--curve <curve>", "EC: P-256, P-256K, P-384 or P-521")
    .option("--ops <ops...>", "key operations, e.g. sign verify (default: all the type allows)")
    .option("--tags <tags...>", "tags, as NAME=VALUE")
    .option("--expires <time>", "expiry (ISO 8601)")
    .option("--not-before <time>", "not valid before (ISO 8601)")
    .action(
      async (
        name: string,
        opts: DataOpts & {
          kty: string;
          size?: number;
          curve?: string;
          ops?: string[];
          tags?: string[];
          expires?: string;
          notBefore?: string;
        },
      ) => {
        const input = {
          kty: opts.kty,
          keySize: opts.size,
          crv: opts.curve,
          keyOps: opts.ops,
          tags: tagsOf(opts.tags),
          exp: seconds(opts.expires, "--expires"),
          nbf: seconds(opts.notBefore, "--not-before"),
        };
        await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
          const v = await audited("KeyCreate", { ...ref(vault.name, name), command: "key create" }, () =>
            i.keys.create(vault, name, input),
          );
          if (opts.json) json(keyBundle(origin, vault, v));
          else console.log(`created key ${v.object.displayName} in ${vault.name}: version ${v.version} (${v.props.kty})`);
        });
      },
    );

  dataCommand(key, "show <name>", "show a key's public part (JWK) and attributes")
    .option("--version <version>", "this version")
    .action(async (name: string, opts: DataOpts & { version?: string }) => {
      await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
        const v = await audited("KeyGet", { ...ref(vault.name, name), command: "key show" }, () => i.keys.get(vault, name, opts.version));
        json(keyBundle(origin, vault, v)); // a JWK reads best as JSON
      });
    });

  dataCommand(key, "rotate <name>", "a new version of the key, as its rotation policy says (or like the current one)").action(
    async (name: string, opts: DataOpts) => {
      await inVaultOf(opts, async ({ i, vault, origin, audited }) => {
        const v = await audited("KeyRotate", { ...ref(vault.name, name), command: "key rotate" }, () => i.keys.rotate(vault, name));
        if (opts.json) json(keyBundle(origin, vault, v));
        else console.log(`rotated key ${v.object.displayName} in ${vault.name}: version ${v.version}`);
      });
    },
  );

  lifecycleCommands(key, {
    kind: "key",
    objects: (i) => i.keys.objects,
    bundle: keyBundle,
    item: keyItem,
    line: (v) => `${v.object.displayName}\t${v.props.kty}\t${v.enabled ? "enabled" : "disabled"}\tupdated ${isoOf(v.updated)}`,
  });
  key.addCommand(pruneCommand("key"));
}

export function objectCommands(program: Command): void {
  secretCommands(program);
  keyCommands(program);
}
