/**
 * The package's entry point: `import { startLockbox } from "lockbox"` starts a throwaway
 * server in-process for a test suite (see embed/lockbox.ts). The `lockbox` command is
 * bin/lockbox.js (cli/main.ts).
 */
export { startLockbox } from "./embed/lockbox.ts";
export type { Lockbox, LockboxOptions, TokenCredential, AccessToken, ClientEnvironment, VaultOptions } from "./embed/lockbox.ts";
