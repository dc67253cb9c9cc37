/**
 * T's methods, each of which may answer with a promise too: what a caller awaits when the
 * object may be this process's own (answering at once) or kept by another process and reached
 * by message (server/shared.ts), as with `serve --workers N`.
 */
export type Awaitable<T> = {
  [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => R | Promise<Awaited<R>> : T[K];
};
