import dns from "node:dns";

// Names under .localhost do not resolve on a bare Linux; in the test process only,
// every *.localhost name is 127.0.0.1 (the README gives users the hosts-file line).
const original = dns.lookup;
(dns as { lookup: unknown }).lookup = function lookup(hostname: string, options: unknown, callback?: unknown) {
  if (typeof hostname === "string" && hostname.endsWith(".localhost")) {
    const cb = (typeof options === "function" ? options : callback) as (...args: unknown[]) => void;
    const all = typeof options === "object" && options !== null && (options as { all?: boolean }).all;
    process.nextTick(() => (all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4)));
    return {};
  }
  return (original as (...args: unknown[]) => unknown).call(dns, hostname, options, callback);
};
