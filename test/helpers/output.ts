import type { ChildProcess } from "node:child_process";

/** A child process's output as it comes (stdout and stderr together), and its exit. */
export interface WatchedOutput {
  text(): string;
  exited: Promise<number | null>;
  /**
   * The first match of `pattern` in the output; rejects ("WHO exited with CODE", and the
   * output) when the child exits first, or after `limitMs`.
   */
  until(pattern: RegExp, limitMs?: number, who?: string): Promise<RegExpExecArray>;
}

/** Watches a child spawned with piped stdout and stderr: the one way tests wait for a server's "listening" line. */
export function watchOutput(child: ChildProcess): WatchedOutput {
  let out = "";
  const changed = new Set<() => void>();
  const take = (d: Buffer): void => {
    out += d.toString("utf8");
    for (const check of changed) check();
  };
  child.stdout!.on("data", take);
  child.stderr!.on("data", take);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    text: () => out,
    exited,
    until(pattern, limitMs = 30_000, who = "the process") {
      return new Promise<RegExpExecArray>((resolve, reject) => {
        const done = (): void => {
          changed.delete(check);
          clearTimeout(timer);
        };
        const check = (): void => {
          const m = pattern.exec(out);
          if (!m) return;
          done();
          resolve(m);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${who} did not print ${pattern} within ${limitMs} ms:\n${out}`));
        }, limitMs);
        changed.add(check);
        check();
        void exited.then((code) => {
          if (!changed.has(check)) return;
          done();
          reject(new Error(`${who} exited with ${code}:\n${out}`));
        });
      });
    },
  };
}
