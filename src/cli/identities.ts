import { Command } from "commander";
import type { Instance } from "../server/instance.ts";
import type { IdentityKind, IdentityRecord } from "../store/store.ts";
import { DEFAULT_PORT } from "../server/config.ts";
import { caFileOf, readRuntimeInfo, shellQuote, trustFiles } from "../server/environment.ts";
import { DEFAULT_VAULT } from "../vault/vaults.ts";
import { confirm, dataDirOption, publicOrigin, withInstance } from "./common.ts";

/**
 * The environment a program needs to sign in as a service principal with
 * DefaultAzureCredential (its EnvironmentCredential), printed as it works: the tenant
 * `adfs` (which makes @azure/identity and MSAL skip Microsoft's online instance discovery),
 * the server as the authority host, and the CA files to trust it.
 */
function servicePrincipalEnv(i: Instance, identity: IdentityRecord, secret: string): Record<string, string> {
  const running = readRuntimeInfo(i.dataDir);
  const port = running?.port ?? DEFAULT_PORT;
  const caFile = caFileOf(i.dataDir, running);
  const trust = caFile ? trustFiles(caFile, process.env) : {};
  return {
    ...(trust as Record<string, string>),
    AZURE_TENANT_ID: "adfs",
    AZURE_CLIENT_ID: identity.clientId,
    AZURE_CLIENT_SECRET: secret,
    AZURE_AUTHORITY_HOST: `https://127.0.0.1:${port}`,
    KEYVAULT_URL: `${publicOrigin(i.dataDir)(DEFAULT_VAULT)}`,
  };
}

/** What a new identity's credential looks like to its user: shell lines to eval (or JSON). */
export function printCredential(i: Instance, identity: IdentityRecord, credential: string, json: boolean | undefined): void {
  if (identity.kind === "managed") {
    if (json)
      console.log(JSON.stringify({ name: identity.name, objectId: identity.id, clientId: identity.clientId, identityHeader: credential }));
    else console.log(`# managed identity ${identity.name} (object id ${identity.id})\nexport IDENTITY_HEADER=${shellQuote(credential)}`);
    return;
  }
  const env = servicePrincipalEnv(i, identity, credential);
  if (json) {
    console.log(
      JSON.stringify({
        name: identity.name,
        objectId: identity.id,
        tenantId: i.tenantId,
        clientId: identity.clientId,
        clientSecret: credential,
        env,
      }),
    );
    return;
  }
  console.log(
    [
      `# service principal ${identity.name} (object id ${identity.id}, tenant ${i.tenantId}); for DefaultAzureCredential:`,
      ...Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    ].join("\n"),
  );
}

/** `lockbox identity ...` and `lockbox sp ...`: the same commands for both kinds. */
export function identityCommands(kind: IdentityKind, noun: string, credentialWord: string): Command {
  const nouns = kind === "managed" ? "managed identities" : "service principals";
  const group = new Command(kind === "managed" ? "identity" : "sp").description(
    `${nouns}: create, list, disable, enable, delete, and rotate their credentials`,
  );
  group
    .command("create <name>")
    .description(`create a ${noun} and print its ${credentialWord}`)
    .option("--admin", "a Lockbox administrator: everything in every vault, and the admin API")
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (name: string, opts: { admin?: boolean; json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const { identity, credential } = await audited("IdentityCreate", { command: `${group.name()} create ${name}` }, () =>
          i.identities.create(name, kind, { admin: opts.admin }),
        );
        printCredential(i, identity, credential, opts.json);
      });
    });
  group
    .command("list")
    .description(`list ${nouns}`)
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (opts: { json?: boolean; dataDir?: string }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const all = (await audited("IdentityList", { command: `${group.name()} list` }, () => i.identities.list()))
          .filter((x) => x.kind === kind)
          .map(({ secretHash: _hidden, ...x }) => x);
        if (opts.json) console.log(JSON.stringify(all, null, 2));
        else
          for (const x of all)
            console.log(`${x.name}\t${x.id}\tclient ${x.clientId}\t${x.enabled ? "enabled" : "disabled"}${x.admin ? "\tadmin" : ""}`);
      });
    });
  for (const [command, operation, description, run] of [
    [
      "disable",
      "IdentityDisable",
      "disable it: its tokens stop working within seconds",
      (i: Instance, n: string) => i.identities.setEnabled(n, false),
    ],
    ["enable", "IdentityEnable", "enable it again", (i: Instance, n: string) => i.identities.setEnabled(n, true)],
    [
      "delete",
      "IdentityDelete",
      "delete it with its role assignments and access policies",
      (i: Instance, n: string) => i.identities.delete(n),
    ],
  ] as const) {
    const sub = group.command(`${command} <name>`).description(description).addOption(dataDirOption());
    if (command === "delete") sub.option("--yes", "do not ask");
    sub.action(async (name: string, opts: { dataDir?: string; yes?: boolean }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        if (command === "delete")
          await confirm(opts.yes, `This deletes the ${noun} ${name} with its role assignments and access policies`, name);
        const x = await audited(operation, { command: `${group.name()} ${command} ${name}` }, () => run(i, name));
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
      await withInstance(opts.dataDir, async (i, audited) => {
        const { identity, credential } = await audited("IdentityRotateCredential", { command: `${group.name()} rotate ${name}` }, () =>
          i.identities.rotateCredential(name),
        );
        printCredential(i, identity, credential, opts.json);
      });
    });
  return group;
}
