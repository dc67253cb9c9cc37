import { ensureTls } from "../../src/server/tls.ts";
import { DEFAULT_DNS_SUFFIX } from "../../src/server/config.ts";

await ensureTls(process.argv[2]!, DEFAULT_DNS_SUFFIX);
