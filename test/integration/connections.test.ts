import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Agent, globalAgent, request } from "node:https";
import { connect as tcpConnect, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { assertError, developerToken, raw } from "../helpers/http.ts";
import { removeDataDir, serveForFile, startLockbox, type Lockbox } from "../helpers/server.ts";
import { eventually, sleep } from "../helpers/wait.ts";

// What a connection may do (issue 10): keep-alive connections are never reset under
// ordinary use, slow and idle clients are cut in time while others are served, the number
// of connections is capped, TLS is Mozilla's intermediate profile, and requests that can be
// read two ways are refused.

let lockbox: Lockbox;
let token: string;
serveForFile({}, async (started) => {
  lockbox = started;
  token = await developerToken(lockbox);
});

/** A TLS connection to a server, open once the handshake is done. */
function tlsTo(server: Lockbox, options: { ciphers?: string; maxVersion?: "TLSv1.2" | "TLSv1.3" } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port: server.port, servername: "localhost", ...options }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Resolves when the socket closes, with what the server sent on it. */
function closed(socket: Socket): Promise<string> {
  let received = "";
  socket.on("data", (d: Buffer) => (received += d.toString()));
  socket.on("error", () => undefined);
  return new Promise((resolve) => socket.once("close", () => resolve(received)));
}

/** One request on a raw TLS socket; the first response's text (the socket may stay open). */
function requestOn(socket: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const onData = (d: Buffer): void => {
      received += d.toString();
      const head = received.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(received)?.[1];
      if (head >= 0 && length !== undefined && received.length >= head + 4 + Number(length)) {
        socket.off("data", onData);
        resolve(received);
      }
    };
    socket.on("data", onData);
    socket.write(text);
  });
}

describe("keep-alive connections under ordinary use", () => {
  test("8 keep-alive connections, 200 sequential PUTs each of 16-25 KB values: no request is reset, every answer echoes its value", async () => {
    // Node's own parser and TLS, once reset such sessions when a request came in while the
    // previous answer (over 16 KB) was still draining.
    const errors: string[] = [];
    let done = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        try {
          for (let i = 0; i < 200; i++) {
            const value = randomBytes(8)
              .toString("hex")
              .padEnd(16_000 + Math.floor(Math.random() * 9_000), "v");
            const body = JSON.stringify({ value });
            const echoed = await new Promise<string>((resolve, reject) => {
              const req = request(
                {
                  host: "127.0.0.1",
                  port: lockbox.port,
                  servername: "localhost",
                  method: "PUT",
                  path: `/secrets/keepalive-${c}?api-version=7.6`,
                  agent,
                  headers: {
                    host: `localhost:${lockbox.port}`,
                    authorization: `Bearer ${token}`,
                    "content-type": "application/json",
                    "content-length": Buffer.byteLength(body),
                  },
                },
                (res) => {
                  let text = "";
                  res.on("data", (d: Buffer) => (text += d.toString()));
                  res.on("end", () =>
                    res.statusCode === 200
                      ? resolve(JSON.parse(text).value as string)
                      : reject(new Error(`${res.statusCode}: ${text.slice(0, 200)}`)),
                  );
                },
              );
              req.on("error", reject);
              req.end(body);
            }).catch((e: Error) => {
              errors.push(`connection ${c}, request ${i}: ${(e as NodeJS.ErrnoException).code ?? ""} ${e.message}`);
              return undefined;
            });
            if (echoed !== undefined) {
              assert.equal(echoed, value, `connection ${c}, request ${i}: another value came back`);
              done++;
            }
          }
        } finally {
          agent.destroy();
        }
      }),
    );
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} of 1600 requests failed`);
    assert.equal(done, 1600);
  });
});

describe("slow and idle clients", () => {
  let timed: Lockbox;
  before(async () => {
    timed = await startLockbox({ args: ["--request-timeout", "2", "--keep-alive-timeout", "1"] });
  });
  after(async () => {
    await timed.stop();
    removeDataDir(timed.dataDir);
  });

  test("20 clients trickling a body, 5 trickling headers and 5 that never finish TLS are all cut within the request timeout, while another client keeps being answered", async () => {
    const timedToken = await developerToken(timed);
    const startedAt = Date.now();
    const trickle = (socket: Socket, bytes: string): NodeJS.Timeout => {
      let i = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) return clearInterval(timer);
        socket.write(bytes[i++ % bytes.length]!);
      }, 300);
      return timer;
    };
    const timers: NodeJS.Timeout[] = [];
    const sockets: Socket[] = [];
    const ends: Array<Promise<string>> = [];
    const cleanUp = (): void => {
      timers.forEach(clearInterval);
      sockets.forEach((s) => s.destroy());
    };
    // Half with a token (their body is awaited), half without (answered 401 at once, then
    // node reads the rest of the body, which never ends).
    for (let i = 0; i < 20; i++) {
      const s = await tlsTo(timed);
      sockets.push(s);
      ends.push(closed(s));
      const auth = i < 10 ? `Authorization: Bearer ${timedToken}\r\n` : "";
      s.write(
        `PUT /secrets/slow-${i}?api-version=7.6 HTTP/1.1\r\nHost: localhost:${timed.port}\r\n${auth}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"value":"`,
      );
      timers.push(trickle(s, "x"));
    }
    for (let i = 0; i < 5; i++) {
      const s = await tlsTo(timed);
      sockets.push(s);
      ends.push(closed(s));
      timers.push(
        trickle(s, `GET /secrets/x?api-version=7.6 HTTP/1.1\r\nHost: localhost:${timed.port}\r\nX-Padding: ${"p".repeat(100)}\r\n`),
      );
    }
    for (let i = 0; i < 5; i++) {
      const s = tcpConnect({ host: "127.0.0.1", port: timed.port });
      sockets.push(s);
      ends.push(closed(s));
    }

    // Meanwhile a well-behaved client gets its answers.
    let answered = 0;
    let allClosed = false;
    const all = Promise.all(ends).then((texts) => {
      allClosed = true;
      return texts;
    });
    try {
      while (!allClosed) {
        const r = await raw(timed, { path: "/secrets?api-version=7.6", token: timedToken });
        assert.equal(r.status, 200, r.text);
        answered++;
        assert.ok(Date.now() - startedAt < 8000, "slow clients were still connected 8 s after the start (request timeout 2 s)");
        await sleep(100);
      }
    } finally {
      cleanUp();
    }
    const texts = await all;
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed < 8000, `the slow clients were cut after ${elapsed} ms`);
    assert.ok(answered >= 5, `the well-behaved client got only ${answered} answers meanwhile`);
    // Those that got as far as HTTP are told why.
    const told = (text: string) => JSON.stringify(text.slice(0, 100));
    for (const text of [...texts.slice(0, 10), ...texts.slice(20, 25)])
      assert.match(text, /^HTTP\/1\.1 408 /, `a cut client was told: ${told(text)}`);
    for (const text of texts.slice(10, 20))
      assert.match(text, /^HTTP\/1\.1 401 /, `an unauthenticated slow client was told: ${told(text)}`);
    // Nothing of the slow writes was kept.
    const list = await raw(timed, { path: "/secrets?api-version=7.6", token: timedToken });
    assert.deepEqual(list.json.value, []);
  });

  test("an idle keep-alive connection is closed after --keep-alive-timeout", async () => {
    const timedToken = await developerToken(timed);
    const s = await tlsTo(timed);
    const end = closed(s);
    const answer = await requestOn(
      s,
      `GET /secrets?api-version=7.6 HTTP/1.1\r\nHost: localhost:${timed.port}\r\nAuthorization: Bearer ${timedToken}\r\n\r\n`,
    );
    assert.match(answer, /^HTTP\/1\.1 200 /);
    const idleFrom = Date.now();
    const limit = setTimeout(() => s.destroy(), 6000);
    await end;
    clearTimeout(limit);
    const idle = Date.now() - idleFrom;
    assert.ok(idle < 4000, `an idle connection stayed open ${idle} ms (keep-alive timeout 1 s)`);
  });
});

describe("the connection cap", () => {
  let capped: Lockbox;
  before(async () => {
    capped = await startLockbox({ args: ["--max-connections", "6"] });
  });
  after(async () => {
    await capped.stop();
    removeDataDir(capped.dataDir);
  });

  test("past --max-connections new connections are closed at once, and the clients already connected keep being served", async () => {
    const cappedToken = await developerToken(capped);
    globalAgent.destroy(); // the token's keep-alive connection would hold a place
    const held: TLSSocket[] = [];
    while (held.length < 6) held.push(await eventually("a connection under the cap", 3000, () => tlsTo(capped)));
    const get = `GET /secrets?api-version=7.6 HTTP/1.1\r\nHost: localhost:${capped.port}\r\nAuthorization: Bearer ${cappedToken}\r\n\r\n`;
    for (const s of held) assert.match(await requestOn(s, get), /^HTTP\/1\.1 200 /);

    for (let i = 0; i < 3; i++) {
      const tried = Date.now();
      await assert.rejects(tlsTo(capped), "a connection past the cap was accepted");
      assert.ok(Date.now() - tried < 1000, `refusing a connection past the cap took ${Date.now() - tried} ms`);
    }
    for (const s of held) assert.match(await requestOn(s, get), /^HTTP\/1\.1 200 /, "a client already connected was not served");

    held.forEach((s) => s.destroy());
    await eventually("a new connection once there is room", 5000, async () => {
      const s = await tlsTo(capped);
      s.destroy();
    });
  });
});

describe("TLS", () => {
  /** The TLS 1.2 suites the server agrees to, tried one by one with the openssl client. */
  async function acceptedTls12Suites(): Promise<string[]> {
    const run = (args: string[], input = ""): Promise<string> =>
      new Promise((resolve) => {
        const child = spawn("openssl", args);
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.stderr.on("data", (d: Buffer) => (out += d.toString()));
        child.on("close", () => resolve(out));
        child.stdin.end(input);
      });
    const suites = (await run(["ciphers", "-tls1_2", "ALL:COMPLEMENTOFALL"]))
      .trim()
      .split(":")
      .filter((c) => !c.startsWith("TLS_"));
    assert.ok(suites.length > 50, `openssl knows only ${suites.length} TLS 1.2 suites`);
    const accepted: string[] = [];
    for (let i = 0; i < suites.length; i += 16) {
      await Promise.all(
        suites.slice(i, i + 16).map(async (suite) => {
          const out = await run([
            "s_client",
            "-connect",
            `127.0.0.1:${lockbox.port}`,
            "-servername",
            "localhost",
            "-tls1_2",
            "-cipher",
            suite,
          ]);
          if (new RegExp(`Cipher is ${suite}\\b`).test(out)) accepted.push(suite);
        }),
      );
    }
    return accepted.sort();
  }

  test("TLS 1.2 offers ECDHE with AES-GCM or ChaCha20-Poly1305 only (no CBC, SHA-1, ARIA or CCM suites); TLS 1.3 works; TLS 1.1 is refused", async () => {
    // The local CA's certificates are ECDSA, so the ECDSA half of the profile is what can be offered.
    assert.deepEqual(await acceptedTls12Suites(), [
      "ECDHE-ECDSA-AES128-GCM-SHA256",
      "ECDHE-ECDSA-AES256-GCM-SHA384",
      "ECDHE-ECDSA-CHACHA20-POLY1305",
    ]);
    const t13 = await tlsTo(lockbox, {});
    assert.equal(t13.getProtocol(), "TLSv1.3");
    t13.destroy();
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tlsConnect(
          {
            host: "127.0.0.1",
            port: lockbox.port,
            servername: "localhost",
            minVersion: "TLSv1",
            maxVersion: "TLSv1.1",
            ciphers: "DEFAULT@SECLEVEL=0",
          },
          () => resolve(s),
        );
        s.once("error", reject);
      }),
    );
  });
});

describe("requests that can be read two ways", () => {
  test("two Host headers are 400 BadParameter, whatever the route", async () => {
    for (const path of ["/secrets?api-version=7.6", "/msi/token?resource=https%3A%2F%2Fvault.localhost", "/nothing-here"]) {
      const s = await tlsTo(lockbox);
      const end = closed(s);
      const text = await requestOn(
        s,
        `GET ${path} HTTP/1.1\r\nHost: localhost:${lockbox.port}\r\nHost: other.vault.localhost:${lockbox.port}\r\nAuthorization: Bearer ${token}\r\nX-Identity-Header: ${lockbox.env.IDENTITY_HEADER}\r\nConnection: close\r\n\r\n`,
      );
      await end;
      assert.match(text, /^HTTP\/1\.1 400 /, `${path}: ${text.slice(0, 200)}`);
      assert.match(text, /BadParameter/);
    }
  });

  test("a query parameter given twice is 400: no token with two audiences, no request with two api-versions", async () => {
    const msi = await raw(lockbox, {
      path: `/msi/token?api-version=2019-08-01&resource=${encodeURIComponent("https://vault.localhost")}&resource=${encodeURIComponent("https://other.example")}`,
      headers: { "x-identity-header": lockbox.env.IDENTITY_HEADER },
    });
    assert.equal(msi.status, 400, msi.text);
    assert.ok(!/access_token/.test(msi.text), "a token was issued");
    assert.match(msi.text, /resource/);
    assertError(await raw(lockbox, { path: "/secrets?api-version=7.6&api-version=7.5", token }), 400, "BadParameter");
  });
});
