import { Command } from "commander";
import type { Instance } from "../server/instance.ts";
import type { IdentityKind, IdentityRecord } from "../store/store.ts";
import { dataDirOption, withInstance } from "./common.ts";

/** What a new identity's credential looks like to its user. */
export function printCredential(i: Instance, identity: IdentityRecord, credential: string, json: boolean | undefined): void {
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
export function identityCommands(kind: IdentityKind, noun: string, credentialWord: string): Command {
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
