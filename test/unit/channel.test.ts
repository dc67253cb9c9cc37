import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { KvError } from "../../src/kernel/errors.ts";
import { Channel, remote, serveObject, type Port } from "../../src/server/shared.ts";

/** Two ends of a channel in this process: what one sends, the other receives (a turn later, as over IPC, cloned). */
function pair(): [Port & { disconnect(): void }, Port & { disconnect(): void }] {
  const [a, b] = [new EventEmitter(), new EventEmitter()];
  const end = (self: EventEmitter, other: EventEmitter) =>
    Object.assign(self, {
      send: (m: unknown) => (setImmediate(() => other.emit("message", structuredClone(m))), true),
      disconnect: () => (self.emit("disconnect"), other.emit("disconnect")),
    }) as unknown as Port & { disconnect(): void };
  return [end(a, b), end(b, a)];
}

class Counter {
  n = 0;
  add(by: number): number {
    return (this.n += by);
  }
  async later(by: number): Promise<number> {
    return this.add(by);
  }
  refuse(): never {
    throw new KvError(409, "Conflict", "not now", "Inner");
  }
}

test("a remote object's methods run at the other end, in order, and answer there what they answer", async () => {
  const [a, b] = pair();
  const counter = new Counter();
  const caller = new Channel(a, {});
  new Channel(b, serveObject("counter", counter, ["add", "later", "refuse"]));
  const far = remote<Counter>(caller, "counter", ["add", "later", "refuse"]);
  assert.deepEqual(await Promise.all([far.add(2), far.later(3), far.add(4)]), [2, 5, 9]);
  assert.equal(counter.n, 9);
});

test("a KvError thrown at the other end is thrown here with its status, code, message and inner code; other errors keep their message", async () => {
  const [a, b] = pair();
  const caller = new Channel(a, {});
  new Channel(b, {
    ...serveObject("counter", new Counter(), ["refuse"]),
    broken: () => {
      throw new Error("it broke");
    },
  });
  await assert.rejects(remote<Counter>(caller, "counter", ["refuse"]).refuse(), (e: unknown) => {
    assert.ok(e instanceof KvError);
    assert.deepEqual([e.status, e.code, e.message, e.innerCode], [409, "Conflict", "not now", "Inner"]);
    return true;
  });
  await assert.rejects(caller.call("broken"), { message: "it broke" });
  await assert.rejects(caller.call("nothing"), { message: "no handler for nothing" });
});

test("calls still waiting when the other end goes away fail", async () => {
  const [a, b] = pair();
  const caller = new Channel(a, {});
  new Channel(b, { never: () => new Promise(() => undefined) });
  const waiting = caller.call("never");
  await new Promise((r) => setImmediate(r));
  a.disconnect();
  await assert.rejects(waiting, { message: /went away/ });
});
