import type { Command } from "commander";
import { dataDirOption, withInstance } from "./common.ts";

export function vaultCommands(program: Command): void {
  const vault = program.command("vault").description("create, list and delete vaults");
  vault
    .command("create <name>")
    .description("create a vault, served at https://NAME.{dns-suffix}:PORT")
    .addOption(dataDirOption())
    .option("--retention-days <days>", "soft-delete retention, 7 to 90 days", "90")
    .option("--purge-protection", "refuse purges; deleted objects go only when their retention ends")
    .option("--access-policies", "authorize with access policies instead of Azure RBAC (enableRbacAuthorization false)")
    .action(
      async (name: string, opts: { dataDir?: string; retentionDays: string; purgeProtection?: boolean; accessPolicies?: boolean }) => {
        await withInstance(opts.dataDir, async (i) => {
          const v = await i.vaults.create(name, {
            retentionDays: Number(opts.retentionDays),
            purgeProtection: opts.purgeProtection,
            rbac: !opts.accessPolicies,
          });
          console.log(`created vault ${v.name} (${v.recoveryLevel}, ${v.retentionDays} days)`);
        });
      },
    );
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
}
