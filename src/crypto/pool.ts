import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { KeyInputError } from "./keys.ts";
import { perform, type OperationRequest, type OperationResult } from "./perform.ts";
import { ALGORITHMS } from "./algorithms.ts";

// The worker is TypeScript under tsx (tests, development) and JavaScript once built.
const workerFile = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url).href;

/**
 * Whether an operation runs on the calling thread. Those that take microseconds (AES, RSA
 * public-key operations) always do: the trip to a thread and back would cost more. When the
 * server has a process per core (`--workers N`), a P-256 signature (about 0.07 ms) and an
 * RSA-2048 private-key operation (about 0.3 ms, as much as the request's own HTTP work) do
 * too: the cores are already shared among the processes, so a thread adds only the trip, and
 * the other processes serve meanwhile. With one process they go to a thread, which leaves its
 * one event loop free for other requests (measured: a P-256 signature on the event loop made
 * one process slower). Larger keys (RSA-3072 takes 2 ms and more, P-384 1 ms) always go to a
 * thread, so that they never hold up the requests behind them.
 */
function onCallingThread(request: OperationRequest, processPerCore: boolean): boolean {
  const alg = ALGORITHMS.get(request.alg);
  if (!alg || alg.family === "oct") return true; // an unknown algorithm is refused at once
  if (alg.kind === "ecdsa") return processPerCore && alg.curve === "P-256" && request.op === "sign";
  const privateKeyOp = alg.kind === "rsa-encrypt" ? request.op === "decrypt" || request.op === "unwrapKey" : request.op === "sign";
  if (!privateKeyOp) return true;
  return processPerCore && request.key.kty === "RSA" && Buffer.byteLength(request.key.n, "base64url") <= 256;
}

/**
 * Key operations that take long (RSA private-key operations, ECDSA) run on worker threads,
 * one per core, so a slow RSA-4096 signature never holds up other requests. Threads start
 * on first use.
 */
export class CryptoPool {
  private pool: Piscina | undefined;

  constructor(
    /** This process is one of several, one per core, serving the same port (`--workers N`). */
    private readonly processPerCore = false,
    private readonly threads = availableParallelism(),
  ) {}

  async run(request: OperationRequest): Promise<OperationResult> {
    if (onCallingThread(request, this.processPerCore)) return perform(request);
    this.pool ??= new Piscina({ filename: workerFile, minThreads: 1, maxThreads: this.threads, idleTimeout: 60_000 });
    const { result, error } = (await this.pool.run(request)) as { result?: OperationResult; error?: string };
    if (error !== undefined) throw new KeyInputError(error);
    return result!;
  }

  async close(): Promise<void> {
    await this.pool?.destroy();
    this.pool = undefined;
  }
}
