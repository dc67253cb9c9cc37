import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { developerToken, raw } from "../helpers/http.ts";
import { containsAny, encodingsOf } from "../helpers/leaks.ts";
import { cli, serveForFile, type Lockbox } from "../helpers/server.ts";
import { storedBytes } from "../helpers/storage.ts";

// No credential in any output stream, at any level (issue 10). A server at --log-level
// trace gets ordinary requests and then every kind of malformed, truncated and surprising
// request, each carrying a valid bearer token, the developer's identity header, a service
// principal's client secret, a secret value and a JWK's private part. None of them may be
// found in the server's stdout or stderr, its audit log, or anything it stores.

let lockbox: Lockbox;
serveForFile({ args: ["--log-level", "trace", "--request-timeout", "2"] }, (started) => {
  lockbox = started;
});

/** Writes raw bytes on a TLS connection and waits for the server to answer and close, or for `ms`. */
function send(bytes: string | Buffer, options: { ms?: number; end?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const socket = tlsConnect({ host: "127.0.0.1", port: lockbox.port, servername: "localhost" }, () => {
      socket.write(bytes);
      if (options.end) socket.end();
    });
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(done, options.ms ?? 4000);
    socket.on("data", (d: Buffer) => (received += d.toString("latin1")));
    socket.on("error", done);
    socket.on("close", done);
  });
}

test("a trace-level server shows no token, identity header, client secret, secret value or private key, whatever it is sent", async () => {
  const token = await developerToken(lockbox);
  const identityHeader = lockbox.env.IDENTITY_HEADER;
  const value = `leak-probe-${randomBytes(24).toString("hex")}`;
  const sp = JSON.parse(cli(["sp", "create", "leak-probe", "--json", "--data-dir", lockbox.dataDir]).stdout) as {
    clientId: string;
    clientSecret: string;
    tenantId: string;
  };
  const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" }) as { d: string };

  const host = `Host: localhost:${lockbox.port}\r\n`;
  const auth = `Authorization: Bearer ${token}\r\n`;
  const ident = `X-Identity-Header: ${identityHeader}\r\n`;
  const body = JSON.stringify({ value });
  const form = `grant_type=client_credentials&client_id=${sp.clientId}&client_secret=${encodeURIComponent(sp.clientSecret)}&scope=${encodeURIComponent("https://vault.localhost/.default")}`;

  // Ordinary use first, all of it logged at trace.
  assert.equal((await raw(lockbox, { method: "PUT", path: "/secrets/probe?api-version=7.6", body: { value }, token })).status, 200);
  assert.equal((await raw(lockbox, { path: "/secrets/probe?api-version=7.6", token })).json.value, value);
  const imported = await raw(lockbox, {
    method: "PUT",
    path: "/keys/probe-key?api-version=7.6",
    body: { key: { ...jwk, key_ops: ["sign", "verify"] } },
    token,
  });
  assert.equal(imported.status, 200, imported.text);
  const spToken = await raw(lockbox, {
    method: "POST",
    path: `/${sp.tenantId}/oauth2/v2.0/token`,
    body: form,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  assert.equal(spToken.status, 200, spToken.text);

  const surprising: Array<[string, string | Buffer, { ms?: number; end?: boolean }?]> = [
    ["a garbled request line", `GARBAGE\x01 /secrets HTTP/1.1\r\n${host}${auth}${ident}\r\n${body}`],
    ["a header with a control byte", `GET /secrets?api-version=7.6 HTTP/1.1\r\n${host}${auth}X-Bad: a\x01b\r\n\r\n`],
    [
      "a body longer than its Content-Length",
      `PUT /secrets/long?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 5\r\n\r\n${body}${body}`,
    ],
    [
      "a JSON body with Connection: close on a route that takes none",
      `GET /secrets?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ],
    [
      "a body cut short",
      `PUT /secrets/cut?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n${body}`,
      { end: true },
    ],
    ["headers too large", `GET /secrets?api-version=7.6 HTTP/1.1\r\n${host}${auth}X-Big: ${value.repeat(400)}\r\n\r\n`],
    [
      "broken chunked encoding",
      `PUT /secrets/chunked?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`,
    ],
    [
      "Content-Length and Transfer-Encoding together",
      `PUT /secrets/smuggle?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    ],
    ["HTTP/1.1 without Host", `GET /secrets?api-version=7.6 HTTP/1.1\r\n${auth}${ident}\r\n`],
    [
      "JSON that does not parse",
      `PUT /secrets/bad?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: ${body.length - 1}\r\n\r\n${body.slice(0, -1)}`,
    ],
    [
      "a value with a lone surrogate",
      `PUT /secrets/bad?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: ${body.length + 6}\r\n\r\n${body.slice(0, -2)}\\ud800"}`,
    ],
    [
      "bytes that are not UTF-8",
      Buffer.concat([
        Buffer.from(
          `PUT /secrets/bad?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: ${body.length + 1}\r\n\r\n`,
        ),
        Buffer.from(body.slice(0, -2)),
        Buffer.from([0xff]),
        Buffer.from('"}'),
      ]),
    ],
    [
      "an unknown route",
      `POST /nowhere/probe HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ],
    [
      "an unknown content type",
      `PUT /secrets/bad?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: text/x-secret\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    ],
    [
      "a body over the limit",
      `PUT /secrets/big?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n${body}`,
      { ms: 1000 },
    ],
    [
      "a private JWK in a bad import",
      `PUT /keys/bad?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 0\r\n\r\n` +
        JSON.stringify({ key: { ...jwk, kty: "RSA" } }),
    ],
    [
      "verify without a digest",
      `POST /keys/probe-key//verify?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{"alg":"ES256","value":"${"A".repeat(14)}"}`,
    ],
    [
      "a token request with a garbled form",
      `POST /${sp.tenantId}/oauth2/v2.0/token HTTP/1.1\r\n${host}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length + 3}\r\n\r\n%zz${form}`,
    ],
    ["a managed identity request twice over", `GET /msi/token?resource=a&resource=b HTTP/1.1\r\n${host}${ident}${auth}\r\n`],
    ["two Host headers", `GET /secrets?api-version=7.6 HTTP/1.1\r\n${host}${host}${auth}${ident}\r\n`],
    [
      "a request that never ends (cut by the request timeout)",
      `PUT /secrets/slow?api-version=7.6 HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n${body}`,
      { ms: 5000 },
    ],
    ["a token where a header value belongs", `GET /secrets?api-version=7.6 HTTP/1.1\r\n${host}Authorization: Bearer ${token}\x7f\r\n\r\n`],
    [
      "an expired-looking token",
      `GET /secrets?api-version=7.6 HTTP/1.1\r\n${host}Authorization: Bearer ${token.slice(0, -3)}xyz\r\n${ident}\r\n`,
    ],
  ];
  await Promise.all(surprising.map(([, bytes, options]) => send(bytes, options)));

  const code = await lockbox.stop();
  assert.equal(code, 0);

  const output = lockbox.output();
  assert.match(output, /incoming request/, "requests were not logged: the server is not logging at trace level");
  assert.match(output, /client error/, "no client error was logged: the malformed requests did not reach the parser");
  assert.doesNotMatch(output, /export IDENTITY_HEADER/, "the server printed the developer's credential");

  const credentials: Array<[string, Buffer[]]> = [
    ["the bearer token", encodingsOf(token)],
    ["the identity header", encodingsOf(identityHeader)],
    ["the client secret", encodingsOf(sp.clientSecret)],
    ["the secret value", encodingsOf(value)],
    ["the JWK's private part", [...encodingsOf(jwk.d), Buffer.from(jwk.d, "base64url")]],
  ];
  const places: Array<[string, Buffer]> = [
    ["the server's output", Buffer.from(output, "latin1")],
    ["the audit log", readFileSync(join(lockbox.dataDir, "audit.log"))],
    ...(await storedBytes(lockbox.dataDir)).map(({ where, bytes }): [string, Buffer] => [where, bytes]),
  ];
  const found = credentials.flatMap(([what, needles]) =>
    places.filter(([, bytes]) => containsAny(bytes, needles)).map(([where]) => `${what} in ${where}`),
  );
  assert.deepEqual(found, []);
});
