import type { Command } from "commander";
import { applySeed, describeChange, describeNote, readSeedFile, seedFailure, type SeedResult } from "../server/seed.ts";
import type { Instance } from "../server/instance.ts";
import { dataDirOption, withInstance } from "./common.ts";
import { printCredential } from "./identities.ts";

/** What a seed did, one line per change (and per note), then the credentials of the identities it made. */
export function printSeedResult(i: Instance, result: SeedResult, dryRun: boolean): void {
  for (const change of result.changes) console.log(describeChange(change, dryRun));
  for (const note of result.notes) console.log(describeNote(note));
  if (result.changes.length === 0) console.log("nothing to change");
  if (result.credentialsFile) {
    console.log(`credentials of ${result.credentials.map((c) => c.identity.name).join(", ")} written to ${result.credentialsFile}`);
    return;
  }
  // Shown once, as `lockbox identity create` and `lockbox sp create` show them.
  for (const { identity, credential } of result.credentials) printCredential(i, identity, credential, false);
}

export function seedCommands(program: Command): void {
  program
    .command("seed <file>")
    .description(
      "create or update vaults, secrets, keys, identities and their access from a JSON seed file; applying it again changes nothing",
    )
    .option("--dry-run", "check the file against the store and list what would change, writing nothing")
    .addOption(dataDirOption())
    .action(async (file: string, opts: { dryRun?: boolean; dataDir?: string }) => {
      try {
        const { seed, baseDir } = readSeedFile(file);
        await withInstance(opts.dataDir, async (i, audited) => {
          const apply = () => applySeed(i, seed, baseDir, { dryRun: opts.dryRun });
          // A dry run changes nothing and is not audited; an applied seed is one SeedApply line.
          const result = opts.dryRun ? await apply() : await audited("SeedApply", { command: `seed ${file}` }, apply);
          printSeedResult(i, result, opts.dryRun ?? false);
        });
      } catch (e) {
        throw seedFailure(file, e);
      }
    });
}
