import assert from "node:assert/strict";

/** A JWK member as the SDK gives it (bytes), as node:crypto and the REST API write it. */
export const base64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

/** Everything an SDK list yields, over all its pages. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of items) out.push(x);
  return out;
}

/**
 * Asserts that an SDK call fails with this HTTP status and RestError.code; with `inner`,
 * also the inner error code (null: that there is none), and with `message`, the message.
 */
export async function rejectsWith(
  p: Promise<unknown>,
  status: number,
  code: string,
  expect: { inner?: string | null; message?: RegExp } = {},
): Promise<void> {
  await assert.rejects(p, (e: any) => {
    assert.equal(e.statusCode, status, `expected ${status} ${code}, got ${e.statusCode} ${e.code}: ${e.message}`);
    assert.equal(e.code, code);
    if (expect.inner !== undefined) assert.equal(e.details?.error?.innerError?.code, expect.inner ?? undefined);
    if (expect.message) assert.match(e.message, expect.message);
    return true;
  });
}
