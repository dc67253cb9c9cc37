// Load generator, run as its own process: autocannon over keep-alive HTTPS.
// argv[2]: JSON { url, connections, duration, method, path, headers, body, idReplacement }
// (idReplacement: each request's "[<id>]" in the path becomes an id of its own).
import autocannon from "autocannon";

const o = JSON.parse(process.argv[2]);
const result = await autocannon({
  url: o.url + o.path,
  connections: o.connections,
  duration: o.duration,
  method: o.method ?? "GET",
  headers: o.headers ?? {},
  body: o.body,
  servername: "localhost",
  idReplacement: Boolean(o.idReplacement),
});
process.stdout.write(
  JSON.stringify({
    rps: result.requests.average,
    total: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  }),
);
