import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Storage } from "./config.ts";

/** The data directory's own folders, whose files are Lockbox's too. */
const SUBDIRS = ["tls"];

/**
 * The data directory holds the root key, the database and the CA key: only its user may
 * read it. It is made 0700; one that already exists is refused if other users can write to
 * it (they could have put files there), and otherwise closed to them, with every file
 * Lockbox keeps in it (it may have been made by a package, a volume or an older Lockbox
 * under a looser umask).
 */
export function prepareDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o7777;
  if (mode & 0o022) {
    throw new Error(
      `${dir} can be written by other users (mode ${mode.toString(8).padStart(4, "0")}), and Lockbox keeps its keys there: it will not use it. Give it to Lockbox's user alone (chmod 700 ${dir}), or choose another --data-dir.`,
    );
  }
  if (mode & 0o077) chmodSync(dir, 0o700);
  for (const sub of ["", ...SUBDIRS]) {
    const folder = join(dir, sub);
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      const path = join(folder, name);
      const st = lstatSync(path); // a symlink is left alone: chmod would change what it points to
      if (st.isDirectory() && SUBDIRS.includes(name) && sub === "") {
        if (st.mode & 0o077) chmodSync(path, 0o700);
      } else if (st.isFile() && st.mode & 0o077) {
        chmodSync(path, 0o600);
      }
    }
  }
}

/** What a data directory says of the instance it belongs to, written at its first start. */
export interface InstanceMarker {
  instance: string;
  /** The store, as a person reads it (no credentials): "the SQLite database /x/lockbox.db". */
  store: string;
  /** The storage the server uses, for the CLI to follow (a PostgreSQL URL without its password). */
  storage?: Storage;
}

/** Whether a data directory holds a Lockbox instance (its marker or its SQLite database). */
export function hasLockboxData(dir: string): boolean {
  return existsSync(markerFile(dir)) || existsSync(join(dir, "lockbox.db"));
}

const markerFile = (dir: string): string => join(dir, "instance.json");

export function readMarker(dir: string): InstanceMarker | undefined {
  const file = markerFile(dir);
  if (!existsSync(file)) return undefined;
  let marker: Partial<InstanceMarker>;
  try {
    marker = JSON.parse(readFileSync(file, "utf8")) as Partial<InstanceMarker>;
  } catch {
    throw new Error(
      `${file} is not valid JSON: it names the instance this data directory belongs to. Put it back, or remove it if you know the store is the right one.`,
    );
  }
  if (typeof marker.instance !== "string") throw new Error(`${file} does not name an instance.`);
  const storage =
    marker.storage?.engine === "sqlite" || (marker.storage?.engine === "postgres" && typeof marker.storage.url === "string")
      ? marker.storage
      : undefined;
  return { instance: marker.instance, store: String(marker.store ?? "an unknown store"), ...(storage ? { storage } : {}) };
}

export function writeMarker(dir: string, marker: InstanceMarker): void {
  writeFileSync(markerFile(dir), JSON.stringify(marker, null, 2) + "\n", { mode: 0o600 });
}
