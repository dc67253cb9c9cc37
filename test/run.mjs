// Runs every test. The SDK trusts only CAs known at process start (NODE_EXTRA_CA_CERTS),
// so one local CA is made here first and every test server's certificate is issued by it.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const tlsDir = mkdtempSync(join(tmpdir(), "lockbox-test-ca-"));
const made = spawnSync(process.execPath, ["--import", "tsx", join(root, "test/helpers/make-ca.ts"), tlsDir], { stdio: "inherit", cwd: root });
if (made.status !== 0) process.exit(made.status ?? 1);

const only = process.argv.slice(2);
const files = only.length
  ? only
  : ["unit", "integration"].flatMap((dir) =>
      readdirSync(join(root, "test", dir), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".test.ts"))
        .sort()
        .map((f) => join("test", dir, f)),
    );

const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
  cwd: root,
  env: { ...process.env, NODE_EXTRA_CA_CERTS: join(tlsDir, "ca.pem"), LOCKBOX_TEST_TLS_DIR: tlsDir },
});
rmSync(tlsDir, { recursive: true, force: true });
process.exit(result.status ?? 1);
