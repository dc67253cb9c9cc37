import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Session, VaultSummary } from "./api.ts";

export interface ConsoleState {
  session: Session;
  /** Ask the shell to reload what every page shows (vault list, the dev clock). */
  refresh: () => void;
  /** Bumped when the dev clock moves or anything else all pages should reload for. */
  epoch: number;
  /** The vaults the identity may look into, with what it may do in each. */
  vaults: VaultSummary[];
}

export const ConsoleContext = createContext<ConsoleState | undefined>(undefined);

export function useConsole(): ConsoleState {
  const c = useContext(ConsoleContext);
  if (!c) throw new Error("useConsole outside the signed-in shell");
  return c;
}

/**
 * Whether the signed-in identity may perform a data-plane operation (its name in the audit
 * log, e.g. "KeyRotate") on the whole vault: pages offer only the actions it may take. A
 * role on a single object may allow more there; the server's answer decides in the end.
 */
export function useCan(vault: string): (operation: string) => boolean {
  const { vaults } = useConsole();
  const ops = new Set(vaults.find((v) => v.name === vault)?.operations ?? []);
  return (operation) => ops.has(operation);
}
