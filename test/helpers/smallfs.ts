import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { engineEnv, newDataDir, removeDataDir, startLockbox, type Lockbox } from "./server.ts";

/** A Lockbox whose data directory is a small filesystem of its own, for tests that fill it. */
export interface SmallFsLockbox {
  lockbox: Lockbox;
  /** A path in the data directory as this process reaches it (the filesystem is mounted only in the server's mount namespace). */
  seen(path?: string): string;
  /** Fills the filesystem to the last byte; returns how many bytes that took. */
  fill(): number;
  /** Removes what fill() wrote. */
  free(): void;
  /** Stops the server and removes everything. */
  remove(): Promise<void>;
}

/** Fails with a clear message where the server could not be given a filesystem of its own. */
function checkUnshare(): void {
  const r = spawnSync("unshare", ["-rm", "true"], { encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(
      `these tests mount a small tmpfs in a mount namespace of their own (unshare -rm), which this machine refuses: ${r.stderr || r.error}`,
    );
}

/**
 * Starts Lockbox with its data directory on a tmpfs of `sizeMb` megabytes, mounted in a
 * user and mount namespace of the server's own (`unshare -rm`, no privileges needed), so a
 * test can fill the disk under a real server. The TLS files come from a normal test data
 * directory, and so does the engine (on PostgreSQL, only the data directory's own files are
 * on the small filesystem), unless `engine: "sqlite"` puts the database there in any pass.
 */
export async function startOnSmallFilesystem(
  options: { sizeMb?: number; args?: string[]; engine?: "sqlite" } = {},
): Promise<SmallFsLockbox> {
  checkUnshare();
  const source = newDataDir();
  const mount = mkdtempSync(join(tmpdir(), "lockbox-smallfs-"));
  const script = `mount -t tmpfs -o size=${options.sizeMb ?? 8}m,mode=0700 lockbox-test "$1" && cp -R "$2/tls" "$1/tls" && shift 2 && exec "$@"`;
  let lockbox: Lockbox;
  try {
    lockbox = await startLockbox({
      dataDir: mount,
      args: options.args,
      env: options.engine === "sqlite" ? { LOCKBOX_STORAGE: "sqlite", LOCKBOX_POSTGRES_URL: "" } : engineEnv(source),
      spawnVia: (argv) => ["unshare", "-rm", "sh", "-c", script, "sh", mount, source, ...argv],
      // Into the server's namespaces: SQLite resolves /proc/PID/root to this namespace's own /.
      cliVia: (pid) => (argv) => ["nsenter", "-t", String(pid), "-U", "-m", "--preserve-credentials", "--wd", ...argv],
    });
  } catch (e) {
    rmSync(mount, { recursive: true, force: true });
    removeDataDir(source);
    throw e;
  }
  const seen = (path = ""): string => join(`/proc/${lockbox.process.pid}/root${mount}`, path);
  const filler = seen("filler");
  return {
    lockbox,
    seen,
    fill() {
      const fd = openSync(filler, "a");
      let written = 0;
      try {
        for (let chunk = 1 << 20; chunk >= 1; chunk >>= 2) {
          const block = Buffer.alloc(chunk, 0x5a);
          try {
            for (;;) written += writeSync(fd, block);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
          }
        }
      } finally {
        closeSync(fd);
      }
      return written;
    },
    free() {
      unlinkSync(filler);
    },
    async remove() {
      if (lockbox.process.exitCode === null && lockbox.process.signalCode === null) await lockbox.stop();
      rmSync(mount, { recursive: true, force: true });
      removeDataDir(source);
    },
  };
}
