import { Command, Option } from "commander";
import { readFileSync } from "node:fs";
import { secretPolicyWire } from "../api/policies.ts";
import { dataDirOption, inVault, vaultOption, withInstance } from "./common.ts";

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

export function objectCommands(program: Command): void {
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
}
