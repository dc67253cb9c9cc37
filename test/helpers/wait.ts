import { testEngine } from "./postgres.ts";

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A one-line account of an error, as the SDK's RestError and others carry it. */
export const errorText = (e: unknown): string => {
  const x = e as { statusCode?: number; code?: string; name?: string; message?: string };
  return `${x?.name ?? "Error"} ${x?.statusCode ?? ""} ${x?.code ?? ""}: ${String(x?.message ?? e).split("\n")[0]}`;
};

/** Runs `check` every 100 ms until it passes, for at most `limitMs`; the last failure is reported. */
export async function eventually<T>(what: string, limitMs: number, check: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await check();
    } catch (e) {
      if (Date.now() >= deadline) throw new Error(`${what}: not so within ${limitMs} ms. Last: ${errorText(e)}`, { cause: e });
    }
    await sleep(100);
  }
}

/**
 * Checks what the server's next request shows of a change another process (a CLI command)
 * has committed: on SQLite at once, for each request first takes in the changes committed
 * before it; on PostgreSQL once the change's notice has come over LISTEN, a moment later.
 */
export function seenNext<T>(what: string, check: () => Promise<T>): Promise<T> {
  return testEngine() === "postgres" ? eventually(what, 5000, check) : check();
}

/**
 * Runs `read` again and again, one call at a time, until `work` has settled, and resolves
 * with what `work` gave: the server's caches stay freshly filled while another process
 * changes what they hold, so that what the next request shows comes from the change being
 * seen, not from a cache entry that happened to expire. A read that fails is ignored.
 */
export async function readingThrough<T>(work: Promise<T>, read: () => Promise<unknown>): Promise<T> {
  let settled = false;
  const done = work.finally(() => (settled = true));
  const reads = (async () => {
    while (!settled) await read().catch(() => undefined);
  })();
  const [result] = await Promise.all([done, reads]);
  return result;
}
