// The read ceiling: a bare node:https server, same TLS material, answering a JSON body of
// the same size as Lockbox's getSecret answer; with PROCESSES > 1, that many processes on one
// port (node:cluster), as `lockbox serve --workers N`. argv: certFile keyFile bodyBytes [processes]
import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import { createServer } from "node:https";

const [cert, key, size] = [readFileSync(process.argv[2]), readFileSync(process.argv[3]), Number(process.argv[4])];
const processes = Number(process.argv[5] ?? 1);

if (processes > 1 && cluster.isPrimary) {
  let listening = 0;
  for (let i = 0; i < processes; i++) {
    cluster.fork().on("message", (port) => {
      if (++listening === processes) process.stdout.write(`listening ${port}\n`);
    });
  }
  process.on("SIGTERM", () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  });
} else {
  const body = JSON.stringify({ value: "x".repeat(Math.max(0, size - 12)) });
  const server = createServer({ cert, key }, (req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 72_000;
  // In a cluster, port 0 is one port for every worker.
  server.listen(0, "127.0.0.1", () => {
    if (cluster.isWorker) process.send(server.address().port);
    else process.stdout.write(`listening ${server.address().port}\n`);
  });
}
