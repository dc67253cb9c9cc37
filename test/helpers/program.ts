import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./server.ts";

export interface ProgramRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The JSON lines the program printed. */
  events: Array<Record<string, any>>;
}

/**
 * Runs test/fixtures/PROGRAM as a user's own Node program: its own process, only PATH, HOME
 * and the given environment (what `lockbox env` prints), and, unless `dns` is false, the
 * test-only patch that resolves *.localhost.
 */
export function runProgram(program: string, args: string[], env: Record<string, string>, dns = true): Promise<ProgramRun> {
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env };
  const nodeArgs = [...(dns ? ["--import", join(ROOT, "test/fixtures/dns-localhost.mjs")] : []), join("test/fixtures", program), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const events = stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, any>);
      resolve({ code, stdout, stderr, events });
    });
  });
}
