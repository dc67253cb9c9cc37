import tls from "node:tls";
import type { LookupFunction } from "node:net";

/**
 * How a program reaches the Lockbox servers it started in-process with no environment at all.
 *
 * The Azure SDK connects with node's https, through an https.Agent of its own (see
 * @typespec/ts-http-runtime's nodeHttpClient): neither `https.globalAgent` nor anything
 * set after start-up reaches it, and node reads NODE_EXTRA_CA_CERTS only when the process
 * starts (Node 20 has no tls.setDefaultCACertificates). Every https.Agent, and fetch, opens
 * its TLS connections with `tls.connect(options)`, looked up on the module at each call. So
 * while an in-process server runs, tls.connect is wrapped: a connection to one of these
 * servers (its port, and host 127.0.0.1, localhost, its DNS suffix or a name under it)
 * that names no CA of its own trusts that server's local CA, and a name under the suffix
 * resolves to 127.0.0.1 (names under .localhost do not resolve on many Linux systems).
 * Every other connection, and one that brings its own `ca`, `secureContext` or `lookup`,
 * is passed on untouched. The wrapper is removed when the last server stops (unless someone
 * wrapped tls.connect after it, in which case it stays and does nothing).
 */
export interface LocalServer {
  port: number;
  /** The address the server listens on, where its names resolve. */
  address: string;
  dnsSuffix: string;
  /** The local CA's certificate (PEM). */
  ca: string;
}

const servers = new Set<LocalServer>();
let original: typeof tls.connect | undefined;

function serverFor(options: tls.ConnectionOptions): { server: LocalServer; named: boolean } | undefined {
  const host = String(options.host ?? options.servername ?? "localhost")
    .toLowerCase()
    .replace(/\.$/, "");
  const port = Number(options.port ?? 443);
  for (const server of servers) {
    if (server.port !== port) continue;
    const named = host === server.dnsSuffix || host.endsWith(`.${server.dnsSuffix}`);
    if (named || host === server.address || host === "localhost") return { server, named };
  }
  return undefined;
}

const resolvesTo =
  (address: string): LookupFunction =>
  (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  };

function wrapped(this: unknown, ...args: unknown[]): tls.TLSSocket {
  const [first] = args;
  if (first !== null && typeof first === "object") {
    const options = first as tls.ConnectionOptions;
    const found = serverFor(options);
    if (found) {
      args[0] = {
        ...options,
        ...(options.ca === undefined && options.secureContext === undefined ? { ca: found.server.ca } : {}),
        ...(found.named && options.lookup === undefined ? { lookup: resolvesTo(found.server.address) } : {}),
      };
    }
  }
  return (original as (...a: unknown[]) => tls.TLSSocket).apply(this, args);
}

/** The server is reachable by name and trusted (see above) until the function returned is called. */
export function reachInProcess(server: LocalServer): () => void {
  servers.add(server);
  if (!original) {
    original = tls.connect;
    (tls as { connect: unknown }).connect = wrapped;
  }
  return () => {
    servers.delete(server);
    if (servers.size === 0 && original && tls.connect === (wrapped as unknown)) {
      (tls as { connect: unknown }).connect = original;
      original = undefined;
    }
  };
}
