// Load generator, run as its own process: autocannon over keep-alive HTTPS.
// argv[2]: JSON { url, connections, duration, method, path, headers, body, distinct }
// (distinct: each request's "[<id>]" in the path becomes a number of its own, so that every
// request names another object).
import autocannon from "autocannon";

const o = JSON.parse(process.argv[2]);

/** autocannon requests whose path has a counter (and this generator's pid) for "[<id>]". */
function distinctPaths(path) {
  let n = 0;
  return { requests: [{ setupRequest: (req) => ({ ...req, path: path.replace("[<id>]", `${process.pid}-${n++}`) }) }] };
}
const result = await autocannon({
  url: o.url + o.path,
  connections: o.connections,
  duration: o.duration,
  method: o.method ?? "GET",
  headers: o.headers ?? {},
  body: o.body,
  servername: "localhost",
  ...(o.distinct ? distinctPaths(o.path) : {}),
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
