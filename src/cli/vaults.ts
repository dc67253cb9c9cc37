import type { Command } from "commander";
import { vaultWire } from "../api/wire.ts";
import { confirm, dataDirOption, publicOrigin, withInstance } from "./common.ts";

export function vaultCommands(program: Command): void {
  const vault = program.command("vault").description("create, list and delete vaults");
  vault
    .command("create <name>")
    .description("create a vault, served at https://NAME.{dns-suffix}:PORT")
    .addOption(dataDirOption())
    .option("--retention-days <days>", "soft-delete retention, 7 to 90 days", "90")
    .option("--purge-protection", "refuse purges; deleted objects go only when their retention ends")
    .option("--access-policies", "authorize with access policies instead of Azure RBAC (enableRbacAuthorization false)")
    .option("--json", "print JSON")
    .action(
      async (
        name: string,
        opts: { dataDir?: string; retentionDays: string; purgeProtection?: boolean; accessPolicies?: boolean; json?: boolean },
      ) => {
        await withInstance(opts.dataDir, async (i, audited) => {
          const v = await audited("VaultCreate", { vault: name, command: "vault create" }, () =>
            i.vaults.create(name, {
              retentionDays: Number(opts.retentionDays),
              purgeProtection: opts.purgeProtection,
              rbac: !opts.accessPolicies,
            }),
          );
          const origin = publicOrigin(i.dataDir);
          if (opts.json) return console.log(JSON.stringify(vaultWire(v, origin), null, 2));
          const host = new URL(origin(v.name)).hostname;
          console.log(
            [
              `created vault ${v.name} (${v.recoveryLevel}, ${v.retentionDays} days, ${v.rbac ? "Azure RBAC" : "access policies"})`,
              `KEYVAULT_URL=${origin(v.name)}`,
              ...(host.endsWith(".localhost")
                ? [`Where ${host} does not resolve, add a hosts line: echo "127.0.0.1 ${host}" | sudo tee -a /etc/hosts`]
                : []),
            ].join("\n"),
          );
        });
      },
    );
  vault
    .command("list")
    .description("list the vaults, with their URLs")
    .option("--json", "print JSON")
    .addOption(dataDirOption())
    .action(async (opts: { dataDir?: string; json?: boolean }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        const origin = publicOrigin(i.dataDir);
        const all = (await audited("VaultList", { command: "vault list" }, () => i.vaults.list())).map((v) => vaultWire(v, origin));
        if (opts.json) return console.log(JSON.stringify(all, null, 2));
        for (const v of all) console.log(`${v.name}\t${v.url}\t${v.recoveryLevel}\t${v.retentionDays} days\t${v.authorization}`);
      });
    });
  vault
    .command("authorization <name> <model>")
    .description("switch a vault between Azure RBAC (rbac) and access policies (access-policies)")
    .addOption(dataDirOption())
    .action(async (name: string, model: string, opts: { dataDir?: string }) => {
      if (model !== "rbac" && model !== "access-policies") throw new Error("the model is rbac or access-policies");
      await withInstance(opts.dataDir, async (i, audited) => {
        await audited("VaultUpdateAuthorization", { vault: name, command: "vault authorization" }, () =>
          i.vaults.setRbac(name, model === "rbac"),
        );
        console.log(`vault ${name.toLowerCase()} now uses ${model}`);
      });
    });
  vault
    .command("throttle <name> <mode>")
    .description(
      "throttle a vault as Azure would (azure) or not at all (off), whatever lockbox serve --throttle says; server: as lockbox serve --throttle says again",
    )
    .addOption(dataDirOption())
    .action(async (name: string, mode: string, opts: { dataDir?: string }) => {
      if (mode !== "azure" && mode !== "off" && mode !== "server") throw new Error("the mode is azure, off or server");
      await withInstance(opts.dataDir, async (i, audited) => {
        await audited("VaultUpdateThrottle", { vault: name, command: "vault throttle" }, () => i.vaults.update(name, { throttle: mode }));
        console.log(
          mode === "server"
            ? `vault ${name.toLowerCase()} is now throttled as lockbox serve --throttle says`
            : `vault ${name.toLowerCase()} is now throttled: ${mode}`,
        );
      });
    });
  vault
    .command("delete <name>")
    .description("delete a vault and everything in it, for good")
    .option("--yes", "do not ask")
    .addOption(dataDirOption())
    .action(async (name: string, opts: { dataDir?: string; yes?: boolean }) => {
      await withInstance(opts.dataDir, async (i, audited) => {
        await confirm(opts.yes, `This deletes the vault ${name.toLowerCase()} and everything in it, for good`, name.toLowerCase());
        await audited("VaultDelete", { vault: name, command: "vault delete" }, () => i.vaults.delete(name));
        console.log(`deleted vault ${name.toLowerCase()}`);
      });
    });
}
