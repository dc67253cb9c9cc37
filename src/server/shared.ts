import { KvError } from "../kernel/errors.ts";
import type { Awaitable } from "../kernel/awaitable.ts";

/** One end of an IPC channel: `process` in a worker, a cluster Worker in the primary. */
export interface Port {
  send(message: unknown): boolean;
  on(event: "message", listener: (message: unknown) => void): unknown;
  on(event: "disconnect", listener: () => void): unknown;
}

/** What a handler may answer: a value or a promise of one, sent back whole (structured clone). */
export type Handler = (...args: never[]) => unknown;

type Message =
  | { lockbox: "call"; id: number; method: string; args: unknown[] }
  | { lockbox: "answer"; id: number; value?: unknown; error?: { message: string; status?: number; code?: string; innerCode?: string } };

/**
 * Calls between the primary of `serve --workers N` and one worker, both ways, over the
 * process's IPC channel: `call(method, ...args)` runs the other end's handler of that name and
 * answers with what it answered. A KvError thrown there is thrown here with the same status,
 * code and message (the request is answered as if this process had thrown it). Calls waiting
 * when the other end goes away fail.
 */
export class Channel {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly port: Port,
    private readonly handlers: Record<string, Handler>,
  ) {
    port.on("message", (m) => this.receive(m as Message));
    port.on("disconnect", () => this.fail(new Error("the other Lockbox process went away")));
  }

  call<T>(method: string, ...args: unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.next++;
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      try {
        this.port.send({ lockbox: "call", id, method, args } satisfies Message);
      } catch (e) {
        this.waiting.delete(id);
        reject(e as Error);
      }
    });
  }

  /** Fails every call still waiting (the other end exited). */
  fail(error: Error): void {
    const waiting = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of waiting) w.reject(error);
  }

  private receive(m: Message): void {
    if (m?.lockbox === "answer") {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (!m.error) w.resolve(m.value);
      else
        w.reject(
          m.error.status !== undefined && m.error.code !== undefined
            ? new KvError(m.error.status, m.error.code, m.error.message, m.error.innerCode)
            : new Error(m.error.message),
        );
    } else if (m?.lockbox === "call") {
      const handler = this.handlers[m.method] as ((...args: unknown[]) => unknown) | undefined;
      new Promise((resolve) => {
        if (!handler) throw new Error(`no handler for ${m.method}`);
        resolve(handler(...m.args));
      }).then(
        (value) => this.answer({ lockbox: "answer", id: m.id, value }),
        (e: unknown) =>
          this.answer({
            lockbox: "answer",
            id: m.id,
            error:
              e instanceof KvError
                ? { message: e.message, status: e.status, code: e.code, innerCode: e.innerCode }
                : { message: e instanceof Error ? e.message : String(e) },
          }),
      );
    }
  }

  private answer(m: Message): void {
    try {
      this.port.send(m);
    } catch {
      // The other end is gone: there is no one to answer.
    }
  }
}

/** An object kept by the other end of a channel (see serveObject), whose methods are called there. */
export function remote<T>(channel: Channel, name: string, methods: ReadonlyArray<keyof T & string>): Awaitable<T> {
  return Object.fromEntries(methods.map((m) => [m, (...args: unknown[]) => channel.call(`${name}.${m}`, ...args)])) as Awaitable<T>;
}

/** The handlers that let the other end of a channel call `methods` of `object` as `remote(channel, name, methods)`. */
export function serveObject<T>(name: string, object: T, methods: ReadonlyArray<keyof T & string>): Record<string, Handler> {
  return Object.fromEntries(
    methods.map((m) => [`${name}.${m}`, (...args: unknown[]) => (object[m] as (...a: unknown[]) => unknown).apply(object, args)]),
  );
}
