// The web console in real Chromium: signing in (a one-time link, a service principal), the
// session's cookie and CSRF check, vaults, and secrets end to end, with the audit log.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { consoleBrowser, signInLink, type ConsoleBrowser } from "../helpers/browser.ts";
import { assignRole, cli, newDataDir, removeDataDir, startLockbox, stopOrKill, type Lockbox } from "../helpers/server.ts";
import { raw } from "../helpers/http.ts";
import { eventually } from "../helpers/wait.ts";

interface AuditLine {
  operationName: string;
  resultType: string;
  identity: { claim: Record<string, string> } | null;
  properties: { id?: string; requestUri?: string; clientInfo?: string };
}
const auditLines = (server: Lockbox): AuditLine[] =>
  readFileSync(join(server.dataDir, "audit.log"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
const callerName = (l: AuditLine) => l.identity?.claim.name;

const SECRET_VALUE = "correct-horse-battery-staple";

describe("the console, signed in as the developer", () => {
  let server: Lockbox;
  let b: ConsoleBrowser;
  let page: Page;

  before(async () => {
    server = await startLockbox({ args: ["--dev-clock"] });
    b = await consoleBrowser(server, import.meta.filename);
    ({ page } = await b.open());
  });
  after(async () => {
    await stopOrKill(server);
  });

  test("without a session the console asks to sign in; the printed link signs in once", async () => {
    await page.goto(`${b.origin}/console/`);
    await page.getByRole("heading", { name: "Sign in to the console" }).waitFor();
    await b.shot(page, "01-sign-in");

    const link = signInLink(server);
    assert.match(link, new RegExp(`^${b.origin}/console/#signin=[A-Za-z0-9_-]{43}$`));
    await page.goto(link);
    await page.getByRole("heading", { name: "Vaults" }).waitFor();
    await page.getByText("developer", { exact: true }).waitFor();
    // The code leaves the address bar at once, and the cookie is what a session should be.
    assert.equal(new URL(page.url()).hash, "");
    const [cookie] = await page.context().cookies();
    assert.equal(cookie?.name, "__Host-lockbox-console");
    assert.deepEqual([cookie?.httpOnly, cookie?.secure, cookie?.sameSite], [true, true, "Strict"]);
    assert.ok(auditLines(server).some((l) => l.operationName === "ConsoleSignIn" && callerName(l) === "developer"));

    // The same link, in another browser, signs no one in.
    const other = await b.open();
    await other.page.goto(link);
    await other.page.getByRole("alert").getByText("This sign-in link was used already or has expired").waitFor();
    await b.shot(other.page, "02-link-used-twice");
    await other.context.close();
  });

  test("creates a vault, sets a secret and finds it listed and searched", async () => {
    await page.getByRole("button", { name: "New vault" }).click();
    await page.getByLabel("Vault name").fill("team");
    await page.getByRole("button", { name: "Create vault" }).click();
    await page.getByRole("heading", { name: "Secrets" }).waitFor();
    assert.equal(new URL(page.url()).pathname, "/console/vaults/team/secrets");
    await page.getByText("This vault has no secrets yet.").waitFor();
    await b.shot(page, "03-empty-vault");

    await page.getByRole("button", { name: "New secret" }).click();
    await page.getByLabel("Secret name").fill("db-password");
    await page.getByLabel("Value", { exact: true }).fill(SECRET_VALUE);
    await page.getByLabel("Content type").fill("text/plain");
    await page.getByLabel("Tags").fill("env=ci, owner=platform");
    await page.getByRole("button", { name: "Create secret" }).click();
    await page.getByRole("heading", { name: "db-password" }).waitFor();
    await page.getByRole("table", { name: "Versions" }).getByRole("row").nth(1).waitFor();

    await page.getByRole("link", { name: "Secrets" }).click();
    for (const name of ["api-key", "cert-password"]) {
      const r = cli(["secret", "set", name, "--vault", "team", "--data-dir", server.dataDir], {}, "value\n");
      assert.equal(r.status, 0, r.stderr);
    }
    await page.reload();
    const list = page.getByRole("table", { name: "Secrets" });
    await list.getByRole("link", { name: "db-password" }).waitFor();
    assert.equal(await list.getByRole("row").count(), 4);
    await page.getByLabel("Search secrets").fill("pass");
    await eventually("the search to leave two secrets", 5000, async () => assert.equal(await list.getByRole("row").count(), 3));
    await list.getByText("text/plain").waitFor();
    await b.shot(page, "04-secrets-list");
  });

  test("shows a value only when asked, and the audit log has that read as the developer's SecretGet", async () => {
    const before = auditLines(server).filter((l) => l.operationName === "SecretGet").length;
    await page.getByRole("link", { name: "db-password" }).click();
    await page.getByRole("heading", { name: "db-password" }).waitFor();
    assert.equal(await page.getByText(SECRET_VALUE).count(), 0, "the value is not on the page until asked for");
    assert.equal(auditLines(server).filter((l) => l.operationName === "SecretGet").length, before, "no read before the click");

    await page.getByRole("button", { name: "Show value" }).click();
    await page.getByTestId("secret-value").getByText(SECRET_VALUE).waitFor();
    await b.shot(page, "05-value-shown");
    const reads = auditLines(server).filter((l) => l.operationName === "SecretGet");
    assert.equal(reads.length, before + 1);
    const read = reads.at(-1)!;
    assert.equal(callerName(read), "developer");
    assert.equal(read.resultType, "Success");
    assert.match(read.properties.id ?? "", /\/secrets\/db-password\/[0-9a-f]{32}$/);
    assert.match(read.properties.clientInfo ?? "", /^lockbox-console /);

    await page.getByRole("button", { name: "Hide" }).click();
    assert.equal(await page.getByText(SECRET_VALUE).count(), 0);
  });

  test("sets a new version from a file, then disables a version and sees reading it refused", async () => {
    await page.getByRole("button", { name: "New version" }).click();
    await page
      .getByLabel("Value from a file")
      .setInputFiles({ name: "second.txt", mimeType: "text/plain", buffer: Buffer.from("second-value\n") });
    await page.getByRole("button", { name: "Set new version" }).click();
    await page.getByText("A new version was set.").waitFor();
    const rows = page.getByRole("table", { name: "Versions" }).getByRole("row");
    await eventually("two versions", 5000, async () => assert.equal(await rows.count(), 3));

    // The older version (the second row) is disabled...
    const older = rows.nth(2);
    await older.getByRole("button", { name: "Disable" }).click();
    await page.getByText(/is now disabled/).waitFor();
    await older.getByText("disabled").waitFor();
    // ...and reading it is refused with Azure's answer, while the current one still reads (exactly, from the file).
    await older.getByRole("button", { name: "Show value" }).click();
    await older.getByRole("alert").getByText("Operation get is not allowed on a disabled secret.").waitFor();
    await b.shot(page, "06-disabled-version-refused");
    await rows.nth(1).getByRole("button", { name: "Show value" }).click();
    await rows.nth(1).getByTestId("secret-value").getByText("second-value").waitFor();
    const got = cli(["secret", "get", "db-password", "--vault", "team", "--data-dir", server.dataDir]);
    assert.match(got.stdout, /^second-value\n/);
  });

  test("a change without the session's CSRF header, or a sign-in from another site, is refused and changes nothing", async () => {
    const answer = await page.evaluate(async () => {
      const r = await fetch("/console/api/kv/team/secrets/forged?api-version=7.6", {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ value: "x" }),
      });
      return { status: r.status, body: (await r.json()) as { error: { code: string } } };
    });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error.code, "Forbidden");
    const shown = cli(["secret", "show", "forged", "--vault", "team", "--data-dir", server.dataDir]);
    assert.notEqual(shown.status, 0, "the forged secret does not exist");

    // Another site's form cannot sign a browser in (no session yet, so its Origin decides), and the link stays unspent.
    const link = signInLink(server);
    const code = new URL(link).hash.slice("#signin=".length);
    const forged = await raw(server, {
      method: "POST",
      path: "/console/api/signin",
      host: `127.0.0.1:${server.port}`,
      headers: { origin: "https://elsewhere.example", "content-type": "application/x-www-form-urlencoded" },
      body: `code=${code}`,
    });
    assert.equal(forged.status, 403);
    assert.equal(forged.headers["set-cookie"], undefined);
    const other = await b.open();
    await other.page.goto(link);
    await other.page.getByRole("heading", { name: "Vaults" }).waitFor();
    await other.context.close();
  });

  test("on a phone the page fits and the menu opens", async () => {
    const phone = await b.open({ width: 390, height: 844 });
    await phone.page.goto(signInLink(server));
    await phone.page.getByRole("heading", { name: "Vaults" }).waitFor();
    const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width}px wide on a 390px screen`);
    await phone.page.getByRole("button", { name: "Menu" }).click();
    await phone.page.getByLabel("Vault", { exact: true }).selectOption("team");
    await phone.page.getByRole("table", { name: "Secrets" }).getByRole("link", { name: "db-password" }).waitFor();
    await b.shot(phone.page, "07-phone-secrets");
    await phone.context.close();
  });

  test("a Secrets User signs in with its client id and secret, sees only its vault, is offered no changes, and sees Azure's 403 on keys", async () => {
    const made = cli(["sp", "create", "reader", "--json", "--data-dir", server.dataDir]);
    assert.equal(made.status, 0, made.stderr);
    const sp = JSON.parse(made.stdout) as { clientId: string; clientSecret: string };
    assignRole(server.dataDir, "reader", "Key Vault Secrets User", "team");

    const reader = await b.open();
    await reader.page.goto(`${b.origin}/console/`);
    // By keyboard: the form's fields are labelled and in order.
    await reader.page.getByLabel("Client id").focus();
    await reader.page.keyboard.type(sp.clientId);
    await reader.page.keyboard.press("Tab");
    await reader.page.keyboard.type(sp.clientSecret);
    await reader.page.keyboard.press("Enter");
    await reader.page.getByText("reader", { exact: true }).waitFor();
    const vaults = reader.page.getByRole("table");
    await vaults.getByRole("link", { name: "team" }).waitFor();
    assert.equal(await vaults.getByRole("link", { name: "default" }).count(), 0, "no role on default: not listed");
    assert.equal(await reader.page.getByRole("link", { name: "Audit log" }).count(), 0, "no admin pages");

    await vaults.getByRole("link", { name: "team" }).click();
    await reader.page.getByRole("table", { name: "Secrets" }).getByRole("link", { name: "db-password" }).click();
    await reader.page.getByRole("button", { name: "Show value" }).first().click();
    await reader.page.getByTestId("secret-value").getByText("second-value").waitFor();
    // Its role reads secrets and sets none: the page offers no changes...
    for (const action of ["New version", "Delete secret", "Disable"])
      assert.equal(await reader.page.getByRole("button", { name: action }).count(), 0, `${action} is not offered`);
    // ...and what it cannot see, the server refuses with Azure's RBAC answer, shown as such.
    await reader.page.getByRole("link", { name: "Keys" }).click();
    const refusal = reader.page.getByRole("alert");
    await refusal.getByText(/Caller is not authorized to perform action on resource/).waitFor();
    assert.match(await refusal.innerText(), /Action: 'Microsoft\.KeyVault\/vaults\/keys\/read'/);
    assert.equal(await reader.page.getByRole("button", { name: "New key" }).count(), 0, "no key actions it may not take");
    await b.shot(reader.page, "08-secrets-user-refused");
    const refused = auditLines(server).filter((l) => l.operationName === "KeyList" && callerName(l) === "reader");
    assert.deepEqual(
      refused.map((l) => l.resultType),
      ["Failure"],
    );
    await reader.context.close();
  });

  test("no page asked for anything outside the server", () => {
    assert.deepEqual(b.outside, []);
  });
});

describe("lockbox console without a console to sign in to", () => {
  test("with no server running, it says how to start one", () => {
    const dir = newDataDir();
    try {
      const r = cli(["console", "--data-dir", dir]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /no Lockbox server is running on .*: start one with `lockbox serve`/);
    } finally {
      removeDataDir(dir);
    }
  });

  test("a server started with --no-console serves no sign-in links", async () => {
    const server = await startLockbox({ args: ["--no-console"] });
    try {
      assert.equal((await raw(server, { path: "/console/" })).status, 404);
      const r = cli(["console", "--data-dir", server.dataDir]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /serves no console \(it was started with --no-console\)/);
    } finally {
      await stopOrKill(server);
    }
  });
});
