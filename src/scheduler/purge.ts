import type { VersionedObjects } from "../vault/objects.ts";

/**
 * Purges soft-deleted objects whose retention has run out, found through the index on
 * their purge date. Runs at start and then every `intervalMs`.
 */
export function startPurging(kinds: VersionedObjects[], intervalMs: number, onError: (e: unknown) => void): () => void {
  const sweep = async (): Promise<void> => {
    for (const objects of kinds) {
      while ((await objects.purgeDue()) > 0);
    }
  };
  const run = (): void => void sweep().catch(onError);
  run();
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
