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

/** Debian's Python, which has python3-azure (the `python3` first on PATH may be another build). */
export const PYTHON = "/usr/bin/python3";

/**
 * Runs test/fixtures/PROGRAM as a user's own Node program: its own process, only PATH, HOME
 * and the given environment (what `lockbox env` prints), and, unless `dns` is false, the
 * test-only patch that resolves *.localhost.
 */
export function runProgram(program: string, args: string[], env: Record<string, string>, dns = true): Promise<ProgramRun> {
  const nodeArgs = [...(dns ? ["--import", join(ROOT, "test/fixtures/dns-localhost.mjs")] : []), join("test/fixtures", program), ...args];
  return run(process.execPath, nodeArgs, env);
}

/**
 * Runs test/fixtures/python/PROGRAM with Debian's Python as a user's own program, as
 * runProgram does (the *.localhost patch is localhost_resolves.py), answering its input()
 * prompts with `input` lines.
 */
export function runPython(
  program: string,
  args: string[],
  env: Record<string, string>,
  options: { dns?: boolean; input?: string[] } = {},
): Promise<ProgramRun> {
  const file = join("test/fixtures/python", program);
  const argv = options.dns === false ? [file, ...args] : [join("test/fixtures/python/localhost_resolves.py"), file, ...args];
  return run(PYTHON, argv, env, options.input);
}

/**
 * Runs Debian's az CLI (azure-cli) as a user runs it, with only the given environment and
 * the test-only *.localhost patch; stdin is closed.
 */
export function runAz(args: string[], env: Record<string, string>): Promise<ProgramRun> {
  return run(PYTHON, [join("test/fixtures/python/localhost_resolves.py"), "-m", "azure.cli", ...args], {
    AZ_INSTALLER: "DEB",
    AZURE_CORE_COLLECT_TELEMETRY: "false",
    AZURE_CORE_NO_COLOR: "true",
    ...env,
  });
}

function run(command: string, argv: string[], env: Record<string, string>, input?: string[]): Promise<ProgramRun> {
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env };
  return new Promise((resolve, reject) => {
    // A program that hangs is killed at the limit, so that its test fails instead of the run hanging.
    const child = spawn(command, argv, {
      cwd: ROOT,
      env: childEnv,
      stdio: [input ? "pipe" : "ignore", "pipe", "pipe"],
      timeout: 120_000,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    if (input) child.stdin!.end(input.map((l) => `${l}\n`).join(""));
    child.on("error", reject);
    child.on("close", (code) => {
      // One JSON object a line (az prints indented JSON, whose lines are not events).
      const events = stdout
        .split("\n")
        .filter((l) => l.startsWith("{") && l.endsWith("}"))
        .map((l) => JSON.parse(l) as Record<string, any>);
      resolve({ code, stdout, stderr, events });
    });
  });
}
