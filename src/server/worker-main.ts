// A worker process of `lockbox serve --workers N` (server/workers.ts), started by the primary.
import { runWorker } from "./workers.ts";

runWorker();
