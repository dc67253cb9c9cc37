import { availableParallelism } from "node:os";
import { Piscina } from "piscina";
import { KeyInputError } from "./keys.ts";
import type { OperationRequest, OperationResult } from "./operations.ts";

// The worker is TypeScript under tsx (tests, development) and JavaScript once built.
const workerFile = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url).href;

/**
 * Key operations run on worker threads, one per core, so a slow RSA-4096 signature never
 * holds up other requests. Threads start on first use.
 */
export class CryptoPool {
  private pool: Piscina | undefined;

  constructor(private readonly threads = availableParallelism()) {}

  async run(request: OperationRequest): Promise<OperationResult> {
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
