import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { KeyInputError } from "./keys.ts";
import { perform, type OperationRequest, type OperationResult } from "./perform.ts";
import { ALGORITHMS } from "./algorithms.ts";

// The worker is TypeScript under tsx (tests, development) and JavaScript once built.
const workerFile = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url).href;

/**
 * Operations that take microseconds (AES, RSA public-key operations) run on the calling
 * thread: the trip to a worker would cost more than they do.
 */
function quick(request: OperationRequest): boolean {
  const alg = ALGORITHMS.get(request.alg);
  if (alg?.family === "oct") return true;
  if (alg?.kind === "rsa-encrypt") return request.op === "encrypt" || request.op === "wrapKey";
  if (alg?.kind === "rsa-sign") return request.op === "verify";
  return false;
}

/**
 * Key operations that take long (RSA private-key operations, ECDSA) run on worker threads,
 * one per core, so a slow RSA-4096 signature never holds up other requests. Threads start
 * on first use.
 */
export class CryptoPool {
  private pool: Piscina | undefined;

  constructor(private readonly threads = availableParallelism()) {}

  async run(request: OperationRequest): Promise<OperationResult> {
    if (quick(request)) return perform(request);
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
