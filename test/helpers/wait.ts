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
