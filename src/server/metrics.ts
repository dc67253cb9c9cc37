import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { DeliveryObserver } from "../events/delivery.ts";
import type { FaultObserver } from "../faults/faults.ts";
import type { RequestOutcome } from "../http/observe.ts";
import type { TokenObserver } from "../identity/tokens.ts";
import type { CacheObserver } from "../kernel/cache.ts";
import type { SchedulerObserver } from "../scheduler/runner.ts";
import type { CommitObserver } from "../store/group.ts";

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_SECONDS = [0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600];
const WRITES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** What a scrape answers: Prometheus's text format. */
export interface Scrape {
  contentType: string;
  body: string;
}

/**
 * A server's Prometheus metrics: the only place that knows prom-client. Each server has its
 * own registry (an in-process API may run several servers in one process); the layers below
 * are handed small observers (store commits, caches, the scheduler, deliveries, tokens) and
 * never see a metric. Labels are operation names, statuses and fixed words: never a vault,
 * object name or caller, so nothing is revealed and the series stay few.
 */
export class Metrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: "lockbox_http_requests_total",
    help: "Requests answered, by operation (as the audit log names it) and HTTP status.",
    labelNames: ["operation", "status"] as const,
    registers: [this.registry],
  });
  private readonly requestSeconds = new Histogram({
    name: "lockbox_http_request_duration_seconds",
    help: "Time from a request's arrival to its answer, by operation and HTTP status.",
    labelNames: ["operation", "status"] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly failed = new Counter({
    name: "lockbox_http_requests_failed_total",
    help: "Requests answered with a 5xx status, by operation.",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });
  private readonly throttled = new Counter({
    name: "lockbox_http_requests_throttled_total",
    help: "Requests answered 429 (throttled), by operation.",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });
  private readonly faultsInjected = new Counter({
    name: "lockbox_faults_injected_total",
    help: "Faults injected by fault rules, by answer (429, 500, 502, 503, 408, drop).",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  private readonly commitSeconds = new Histogram({
    name: "lockbox_store_commit_duration_seconds",
    help: "Time of one group-commit transaction, from BEGIN to its COMMIT (or ROLLBACK).",
    labelNames: ["outcome"] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly groupWrites = new Histogram({
    name: "lockbox_store_group_commit_writes",
    help: "Writes acknowledged by one group-commit transaction.",
    buckets: WRITES,
    registers: [this.registry],
  });
  private readonly schedulerRunSeconds = new Histogram({
    name: "lockbox_scheduler_run_duration_seconds",
    help: "Time of one scheduler run (due actions, purges and event deliveries).",
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly schedulerLag = new Histogram({
    name: "lockbox_scheduler_lag_seconds",
    help: "How late a due lifetime action was carried out, after its due time.",
    buckets: LAG_SECONDS,
    registers: [this.registry],
  });
  private readonly schedulerActions = new Counter({
    name: "lockbox_scheduler_actions_total",
    help: "Due lifetime actions run, by action (Rotate, NearExpiry, Expired, DisablePrevious) and outcome (done, failed, skipped).",
    labelNames: ["action", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly deliveryAttempts = new Counter({
    name: "lockbox_event_delivery_attempts_total",
    help: "Attempts to deliver an event to a webhook, by outcome (delivered, failed: retried later, dropped).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  private readonly tokensIssued = new Counter({
    name: "lockbox_tokens_issued_total",
    help: "Access tokens issued, by the kind of identity (managed, sp).",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  private readonly cacheHits = new Counter({
    name: "lockbox_cache_hits_total",
    help: "Lookups answered from a cache (vaults, identities, grants, tokens).",
    labelNames: ["cache"] as const,
    registers: [this.registry],
  });
  private readonly cacheMisses = new Counter({
    name: "lockbox_cache_misses_total",
    help: "Lookups a cache could not answer (vaults, identities, grants, tokens).",
    labelNames: ["cache"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** One answered request (http/observe.ts). */
  request(r: RequestOutcome): void {
    const labels = { operation: r.operation, status: String(r.status) };
    this.requests.inc(labels);
    this.requestSeconds.observe(labels, r.durationMs / 1000);
    if (r.status >= 500) this.failed.inc({ operation: r.operation });
    if (r.status === 429) this.throttled.inc({ operation: r.operation });
  }

  readonly commits: CommitObserver = {
    transaction: (writes, seconds, committed) => {
      this.commitSeconds.observe({ outcome: committed ? "committed" : "rolled_back" }, seconds);
      this.groupWrites.observe(writes);
    },
  };

  readonly faults: FaultObserver = (status) => this.faultsInjected.inc({ status: String(status) });

  readonly cache: CacheObserver = (cache, hit) => (hit ? this.cacheHits : this.cacheMisses).inc({ cache });

  readonly scheduler: SchedulerObserver = {
    run: (seconds) => this.schedulerRunSeconds.observe(seconds),
    action: (action, outcome, lagSeconds) => {
      this.schedulerActions.inc({ action, outcome });
      if (outcome !== "skipped") this.schedulerLag.observe(lagSeconds);
    },
  };

  readonly deliveries: DeliveryObserver = { attempt: (outcome) => this.deliveryAttempts.inc({ outcome }) };

  readonly tokens: TokenObserver = { issued: (kind) => this.tokensIssued.inc({ kind }), cache: this.cache };

  /** Deliveries waiting (and those among them that failed before), read from the store at each scrape. */
  watchDeliveries(count: () => Promise<{ pending: number; failing: number }>): void {
    let last: Promise<{ pending: number; failing: number } | undefined> | undefined;
    // One store read per scrape for both gauges; a store that is down leaves them as they were.
    const read = () =>
      (last ??= count()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (last = undefined))));
    new Gauge({
      name: "lockbox_event_deliveries_pending",
      help: "Event deliveries to webhooks not yet made (as the store holds them).",
      registers: [this.registry],
      async collect() {
        const n = await read();
        if (n) this.set(n.pending);
      },
    });
    new Gauge({
      name: "lockbox_event_deliveries_failing",
      help: "Pending event deliveries that have failed at least once and wait for a retry.",
      registers: [this.registry],
      async collect() {
        const n = await read();
        if (n) this.set(n.failing);
      },
    });
  }

  async scrape(): Promise<Scrape> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** A listening metrics server (--metrics-port). */
export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Plain-HTTP GET /metrics on 127.0.0.1 only (--metrics-port): for a Prometheus on this host
 * that should not need the local CA. Anything else is 404.
 */
export async function serveMetrics(scrape: () => Promise<Scrape>, port: number): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found: this port serves GET /metrics only.\n");
      return;
    }
    scrape().then(
      ({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body),
      () => res.writeHead(500, { "content-type": "text/plain" }).end("The metrics could not be collected.\n"),
    );
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
