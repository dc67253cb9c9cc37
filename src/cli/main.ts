import { Command } from "commander";
import { readFileSync } from "node:fs";
import { KvError } from "../kernel/errors.ts";
import { serveCommands } from "./serve.ts";
import { envCommands, tokenCommands } from "./env.ts";
import { vaultCommands } from "./vaults.ts";
import { identityCommands } from "./identities.ts";
import { accessCommands } from "./access.ts";
import { eventCommands } from "./events.ts";
import { objectCommands } from "./objects.ts";
import { seedCommands } from "./seed.ts";
import { consoleCommands } from "./console.ts";
import { faultCommands } from "./faults.ts";

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

serveCommands(program);
envCommands(program);
tokenCommands(program);
vaultCommands(program);
program.addCommand(identityCommands("managed", "managed identity", "IDENTITY_HEADER value"));
program.addCommand(identityCommands("sp", "service principal", "client id and secret"));
accessCommands(program);
eventCommands(program);
objectCommands(program);
seedCommands(program);
consoleCommands(program);
faultCommands(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`lockbox: ${e instanceof KvError || e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
