import { after } from "node:test";
import { createHash, X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { cli, ROOT, type Lockbox } from "./server.ts";

/** Debian's Chromium (`.ci/run` installs it); playwright-core drives it and downloads nothing. */
export const CHROMIUM = process.env.LOCKBOX_TEST_CHROMIUM ?? "/usr/bin/chromium";

/** Screenshots, one folder per test file, emptied when the file starts and kept afterwards for a person to look at. */
export const SCREENSHOTS = join(ROOT, "test", "screenshots");

// Closed when the test file ends (registered at import, so at the file's top level: an
// after() inside a before() hook would run as soon as that hook ends).
const opened = new Set<Browser>();
after(async () => {
  await Promise.all([...opened].map((b) => b.close()));
});

/** The SPKI hash Chromium is told to accept for this server's certificate (and no other untrusted one). */
function spkiHash(dataDir: string): string {
  const cert = new X509Certificate(readFileSync(join(dataDir, "tls", "server.pem")));
  return createHash("sha256")
    .update(cert.publicKey.export({ type: "spki", format: "der" }))
    .digest("base64");
}

export interface ConsoleBrowser {
  browser: Browser;
  /** https://127.0.0.1:PORT, the console's origin. */
  origin: string;
  /** A new browser context (its own cookies) with a page, recording every request it makes. */
  open(viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }>;
  /** Every URL a page asked for that is not the server's own (or data:). */
  outside: string[];
  /** Saves a full-page screenshot as NAME.png under this test file's folder. */
  shot(page: Page, name: string): Promise<string>;
}

/**
 * Starts headless Chromium for one test file against one server, with the flags it needs on
 * these machines (no sandbox as root, no GPU, no background connections to Google), and a
 * fresh profile. Closed after the file.
 */
export async function consoleBrowser(server: Lockbox, testFile: string): Promise<ConsoleBrowser> {
  const folder = join(SCREENSHOTS, basename(testFile).replace(/\.test\.ts$/, ""));
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      `--ignore-certificate-errors-spki-list=${spkiHash(server.dataDir)}`,
    ],
  });
  opened.add(browser);
  const origin = `https://127.0.0.1:${server.port}`;
  const outside: string[] = [];
  return {
    browser,
    origin,
    outside,
    async open(viewport = { width: 1280, height: 800 }) {
      const context = await browser.newContext({ viewport, timezoneId: "Europe/Paris", locale: "en-GB" });
      context.on("request", (req) => {
        const url = req.url();
        if (!url.startsWith(`${origin}/`) && !url.startsWith("data:")) outside.push(url);
      });
      // A step waits at most this long: a console page answers in milliseconds here.
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      return { context, page };
    },
    async shot(page, name) {
      const path = join(folder, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
  };
}

/** A one-time sign-in link from `lockbox console` (for the developer, or `--identity NAME`). */
export function signInLink(server: Lockbox, identity?: string): string {
  const r = cli(["console", "--data-dir", server.dataDir, ...(identity ? ["--identity", identity] : [])]);
  if (r.status !== 0) throw new Error(`lockbox console failed: ${r.stderr}`);
  return r.stdout.trim();
}
