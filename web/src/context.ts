import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Session } from "./api.ts";

export interface ConsoleState {
  session: Session;
  /** Ask the shell to reload what every page shows (vault list, the dev clock). */
  refresh: () => void;
  /** Bumped when the dev clock moves or anything else all pages should reload for. */
  epoch: number;
}

export const ConsoleContext = createContext<ConsoleState | undefined>(undefined);

export function useConsole(): ConsoleState {
  const c = useContext(ConsoleContext);
  if (!c) throw new Error("useConsole outside the signed-in shell");
  return c;
}
