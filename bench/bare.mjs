// The read ceiling: a bare node:https server, same TLS material, answering a JSON body of
// the same size as Lockbox's getSecret answer. argv: certFile keyFile bodyBytes
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [cert, key, size] = [readFileSync(process.argv[2]), readFileSync(process.argv[3]), Number(process.argv[4])];
const body = JSON.stringify({ value: "x".repeat(Math.max(0, size - 12)) });
const server = createServer({ cert, key }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${server.address().port}\n`));
