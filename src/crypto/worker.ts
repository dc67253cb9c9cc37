import { KeyInputError } from "./keys.ts";
import { perform, type OperationRequest, type OperationResult } from "./perform.ts";

/** Runs in a pool thread. Bad input comes back as a message: error classes do not cross threads. */
export default function run(request: OperationRequest): { result?: OperationResult; error?: string } {
  try {
    return { result: perform(request) };
  } catch (e) {
    if (e instanceof KeyInputError) return { error: e.message };
    throw e;
  }
}
