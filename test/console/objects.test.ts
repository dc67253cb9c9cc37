import { after, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Page } from "playwright-core";
import { consoleBrowser, signInLink, type ConsoleBrowser } from "../helpers/browser.ts";
import { clockNow } from "../helpers/clock.ts";
import { assignRole, cli, removeDataDir, startLockbox, stopOrKill, type Lockbox } from "../helpers/server.ts";

// The keys and certificates pages, as a person uses them in Chromium: a key made, rotated by
// hand and by its policy when the dev clock moves, a version disabled; a self-signed
// certificate made and downloaded; and a Secrets User refused on the keys page with Key
// Vault's own message. One server (with its dev clock) and one browser for the file; the
// steps run in order on one page.
const DAY = 86_400;
const LIMIT = { timeout: 120_000 };
const KEY = "app-signing";
const CERT = "web-tls";

// Started at the top of the file, not in before(): consoleBrowser registers its own after().
const server: Lockbox = await startLockbox({ args: ["--dev-clock"] });
after(async () => {
  await stopOrKill(server);
  removeDataDir(server.dataDir);
});
const ui: ConsoleBrowser = await consoleBrowser(server, import.meta.filename);
const { page } = await ui.open();

const at = (path: string) => `${ui.origin}/console${path}`;
/** The dateTime (epoch seconds) of the first <time> inside a locator. */
const timeOf = async (page: Page, selector: string): Promise<number> =>
  Math.floor(Date.parse((await page.locator(selector).locator("time").first().getAttribute("datetime"))!) / 1000);
/** How many versions the key or certificate page lists ("3 versions, newest first."). */
const versions = (n: number) => page.getByText(`${n} ${n === 1 ? "version" : "versions"}, newest first.`);

test("a developer signs in with the link lockbox console prints", LIMIT, async () => {
  await page.goto(signInLink(server));
  await page.getByRole("heading", { name: "Vaults" }).waitFor();
  await page.goto(at("/vaults/default/keys"));
  await page.getByText("This vault has no keys yet.").waitFor();
  await ui.shot(page, "01-keys-empty");
});

test("a key is created in the form and its page shows its public JWK and one version", LIMIT, async () => {
  await page.getByRole("button", { name: "New key" }).click();
  await page.getByLabel(/^Name/).fill(KEY);
  await page.getByLabel("Key type").selectOption("EC P-256");
  await page.getByLabel("Tags").fill("team=payments");
  await ui.shot(page, "02-new-key-form");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByRole("heading", { name: KEY }).waitFor();
  await versions(1).waitFor();
  const jwk = JSON.parse(await page.getByLabel("Public key as a JWK").innerText()) as Record<string, unknown>;
  assert.equal(jwk.kty, "EC");
  assert.equal(jwk.crv, "P-256");
  assert.ok(typeof jwk.x === "string" && typeof jwk.y === "string", "the public point is shown");
  assert.equal(jwk.d, undefined, "nothing private is shown");
  await page.getByRole("button", { name: "Copy JWK" }).waitFor();
  await ui.shot(page, "03-key-page");

  // The list shows it with its type, read from the key itself.
  await page.goto(at("/vaults/default/keys"));
  const row = page.getByRole("row").filter({ hasText: KEY });
  await row.getByText("EC P-256").waitFor();
  await row.getByText("enabled").waitFor();
  await page.getByRole("searchbox", { name: "Search keys" }).fill("nothing-like-it");
  await page.getByText("No key matches “nothing-like-it”.").waitFor();
  await page.getByRole("searchbox", { name: "Search keys" }).fill("app");
  await row.waitFor();
  await ui.shot(page, "04-keys-list");
  await row.getByRole("link", { name: KEY }).click();
  await page.getByRole("heading", { name: KEY }).waitFor();
});

test("Rotate now makes a second version, the current one", LIMIT, async () => {
  await page.getByRole("button", { name: "Rotate now" }).click();
  await versions(2).waitFor();
  await page.getByText("A new version is the current one.").waitFor();
  await ui.shot(page, "05-rotated");
});

test("a rotation policy of 30 days after creation shows when the next rotation is due", LIMIT, async () => {
  await page.getByRole("button", { name: "Edit policy" }).click();
  await page.getByLabel("Automatic rotation").selectOption("after");
  await page.getByLabel("Rotate after (days)").fill("30");
  await page.getByLabel("Expiry time (days)").fill("90");
  await ui.shot(page, "06-policy-form");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText("The rotation policy is saved.").waitFor();
  await page.getByText("Every 30 days after a version is created").waitFor();
  await page.getByText("as the scheduler has planned it").waitFor();
  const created = await timeOf(page, 'tr:has(.badge:text-is("current")) td:nth-child(3)');
  const due = await timeOf(page, '[data-testid="next-rotation"]');
  assert.equal(due, created + 30 * DAY, "the next rotation is 30 days after the current version was created");
  await ui.shot(page, "07-policy-next-due");
});

test("moving the dev clock 30 days on lets the scheduler rotate the key, and the page shows the third version", LIMIT, async () => {
  const before = await timeOf(page, '[data-testid="next-rotation"]');
  // The clock runs on from where it was moved: one step of 30 days passes the due time; a
  // second is there for a clock that had not yet reached the same second.
  for (let i = 0; i < 2 && !(await versions(3).isVisible()); i++) {
    await page.getByLabel("Move the clock by").selectOption({ label: "+30 days" });
    await page.getByRole("button", { name: "Advance" }).click();
    await versions(3)
      .waitFor({ timeout: 15_000 })
      .catch(() => undefined);
  }
  await versions(3).waitFor();
  assert.ok((await clockNow(server)) >= before, "the instance's clock passed the due time");
  // The new version came from the scheduler, with the policy's expiry and the next rotation after it.
  const created = await timeOf(page, 'tr:has(.badge:text-is("current")) td:nth-child(3)');
  await page.waitForFunction(
    (want) => {
      const t = document.querySelector('[data-testid="next-rotation"] time')?.getAttribute("datetime");
      return t !== null && t !== undefined && Math.floor(Date.parse(t) / 1000) === want;
    },
    created + 30 * DAY,
  );
  assert.ok(created >= before, "the third version was made when the rotation fell due");
  const exp = await timeOf(page, 'tr:has(.badge:text-is("current")) td:nth-child(6)');
  assert.equal(exp, created + 90 * DAY, "a version the policy makes expires after its expiry time");
  await ui.shot(page, "08-rotated-by-scheduler");
});

test("disabling an old version marks it disabled", LIMIT, async () => {
  const oldest = page.locator("tr[data-version]").last();
  const version = (await oldest.getAttribute("data-version"))!;
  await page.getByRole("button", { name: `Disable version ${version}` }).click();
  await page.locator(`tr[data-version="${version}"]`).getByText("disabled", { exact: true }).waitFor();
  await page.getByRole("button", { name: `Enable version ${version}` }).waitFor();
  await ui.shot(page, "09-version-disabled");
});

test("a deleted key is listed under Deleted and can be recovered", LIMIT, async () => {
  await page.getByRole("button", { name: "Delete key" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  await page.getByRole("link", { name: "Deleted" }).waitFor();
  const row = page.getByRole("row").filter({ hasText: KEY });
  await row.waitFor();
  await ui.shot(page, "10-deleted-keys");
  await row.getByRole("button", { name: `Recover ${KEY}` }).click();
  await page.getByText(`${KEY} is recovered.`).waitFor();
  await page.getByText("No deleted keys.").waitFor();
});

test("a self-signed certificate shows its subject and expiry, and its .cer downloads and parses", LIMIT, async () => {
  await page.goto(at("/vaults/default/certificates"));
  await page.getByText("This vault has no certificates yet.").waitFor();
  await page.getByRole("button", { name: "New certificate" }).click();
  await page.getByLabel(/^Name/).fill(CERT);
  await page.getByLabel(/^Subject/).fill("CN=web.example.test");
  await page.getByLabel("DNS names").fill("web.example.test, www.example.test");
  await page.getByLabel("Validity (months)").fill("6");
  await ui.shot(page, "11-new-certificate-form");
  await page.getByRole("button", { name: "Create certificate" }).click();
  await page.getByRole("heading", { name: CERT }).waitFor();
  await page.getByTestId("subject").getByText("CN=web.example.test").waitFor();
  await page.getByText("DNS: www.example.test").waitFor();
  await page.getByText("completed", { exact: true }).waitFor();
  const expires = await timeOf(page, '[data-testid="expires"]');
  const now = await clockNow(server);
  assert.ok(expires > now + 170 * DAY && expires < now + 190 * DAY, "it expires about 6 months on");
  await ui.shot(page, "12-certificate-page");

  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download .cer" }).click()]);
  assert.equal(download.suggestedFilename(), `${CERT}.cer`);
  const cert = new X509Certificate(readFileSync((await download.path())!));
  assert.equal(cert.subject, "CN=web.example.test");
  assert.match(cert.subjectAltName ?? "", /DNS:www\.example\.test/);
  assert.equal(Math.floor(Date.parse(cert.validTo) / 1000), expires, "the page's expiry is the certificate's notAfter");

  const [pemDownload] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download PEM" }).click()]);
  const pemText = readFileSync((await pemDownload.path())!, "utf8");
  assert.match(pemText, /^-----BEGIN CERTIFICATE-----\n/);
  assert.equal(new X509Certificate(pemText).fingerprint, cert.fingerprint);

  await page.goto(at("/vaults/default/certificates"));
  await page.getByRole("row").filter({ hasText: CERT }).getByText("enabled").waitFor();
  await ui.shot(page, "13-certificates-list");
});

test("a certificate for an outside CA waits with its CSR, and its operation can be cancelled and deleted", LIMIT, async () => {
  await page.goto(at("/vaults/default/certificates"));
  await page.getByRole("button", { name: "New certificate" }).click();
  await page.getByLabel(/^Name/).fill("partner-tls");
  await page.getByLabel(/^Subject/).fill("CN=partner.example.test");
  await page.getByLabel(/^Issuer/).selectOption("Unknown");
  await page.getByRole("button", { name: "Create certificate" }).click();
  await page.getByRole("heading", { name: "partner-tls" }).waitFor();
  await page.getByText("in progress", { exact: true }).waitFor();
  await page.getByText("No version yet.").waitFor();
  const [csr] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSR" }).click()]);
  assert.match(readFileSync((await csr.path())!, "utf8"), /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  await page.getByLabel(/^Signed certificate/).waitFor();
  await ui.shot(page, "14-pending-certificate");
  await page.getByRole("button", { name: "Cancel operation" }).click();
  await page.getByText("The operation is cancelled.").waitFor();
  await page.getByText("cancelled", { exact: true }).waitFor();
  await page.getByRole("button", { name: "Delete operation" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete operation" }).click();
  await page.getByText("The operation is deleted.").waitFor();
  await page.getByText("partner-tls is gone.").waitFor();
});

test("a vault with purge protection refuses a purge, and the page shows Key Vault's refusal", LIMIT, async () => {
  const made = cli(["vault", "create", "locked", "--purge-protection", "--data-dir", server.dataDir]);
  assert.equal(made.status, 0, made.stderr);
  await page.goto(at("/vaults/locked/keys"));
  await page.getByRole("button", { name: "New key" }).click();
  await page.getByLabel(/^Name/).fill("held");
  await page.getByLabel("Key type").selectOption("RSA 3072");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByRole("heading", { name: "held" }).waitFor();
  await page.getByText("RSA 3072").first().waitFor();
  await page.getByRole("button", { name: "Delete key" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
  const row = page.getByRole("row").filter({ hasText: "held" });
  await row.getByText("purge protection", { exact: true }).waitFor();
  await row.getByRole("button", { name: "Purge" }).click();
  await page.getByRole("dialog").getByText("This vault has purge protection").waitFor();
  await page.getByRole("dialog").getByRole("button", { name: "Purge" }).click();
  await page.getByRole("alert").getByText('Operation "purge" is not allowed because purge protection is enabled for this vault.').waitFor();
  await row.waitFor();
  await ui.shot(page, "15-purge-refused");
});

test("on a phone the key page reads in one column", LIMIT, async () => {
  const phone = await ui.open({ width: 390, height: 844 });
  await phone.page.goto(signInLink(server));
  await phone.page.getByRole("heading", { name: "Vaults" }).waitFor();
  await phone.page.goto(at(`/vaults/default/keys/${KEY}`));
  await phone.page.getByText("3 versions, newest first.").waitFor();
  await ui.shot(phone.page, "16-key-page-phone");
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `nothing is wider than the screen (${width}px)`);
  await phone.context.close();
});

test("a Key Vault Secrets User opens the keys page and sees Key Vault's refusal", LIMIT, async () => {
  const made = cli(["sp", "create", "reader", "--data-dir", server.dataDir, "--json"]);
  assert.equal(made.status, 0, made.stderr);
  const { clientId, clientSecret } = JSON.parse(made.stdout) as { clientId: string; clientSecret: string };
  assignRole(server.dataDir, "reader", "Key Vault Secrets User");

  const reader = await ui.open();
  await reader.page.goto(at("/"));
  await reader.page.getByLabel("Client id").fill(clientId);
  await reader.page.getByLabel("Client secret").fill(clientSecret);
  await reader.page.getByRole("button", { name: "Sign in" }).click();
  await reader.page.getByRole("heading", { name: "Vaults" }).waitFor();
  await reader.page.goto(at("/vaults/default/keys"));
  const refusal = reader.page.getByRole("alert");
  await refusal.getByText("Not allowed").waitFor();
  await refusal.getByText("Caller is not authorized to perform action on resource.").waitFor();
  assert.match(await refusal.innerText(), /Action: '[^']*keys/, "the message names the refused action");
  await ui.shot(reader.page, "17-secrets-user-keys");
  await reader.page.goto(at(`/vaults/default/keys/${KEY}`));
  await reader.page.getByRole("alert").getByText("Caller is not authorized").waitFor();
  assert.equal(await reader.page.getByRole("button", { name: "Rotate now" }).count(), 0, "no action is offered on a key it cannot read");
  await ui.shot(reader.page, "18-secrets-user-key");
  await reader.context.close();
});

test("a Crypto Officer, who may not read the scheduler's plan, sees the next rotation worked out from the policy", LIMIT, async () => {
  const made = cli(["sp", "create", "officer", "--data-dir", server.dataDir, "--json"]);
  assert.equal(made.status, 0, made.stderr);
  const { clientId, clientSecret } = JSON.parse(made.stdout) as { clientId: string; clientSecret: string };
  assignRole(server.dataDir, "officer", "Key Vault Crypto Officer");

  const officer = await ui.open();
  await officer.page.goto(at("/"));
  await officer.page.getByLabel("Client id").fill(clientId);
  await officer.page.getByLabel("Client secret").fill(clientSecret);
  await officer.page.getByRole("button", { name: "Sign in" }).click();
  await officer.page.getByRole("heading", { name: "Vaults" }).waitFor();
  await officer.page.goto(at(`/vaults/default/keys/${KEY}`));
  await officer.page.getByText("from the policy and the current version's creation time").waitFor();
  const created = await timeOf(officer.page, 'tr:has(.badge:text-is("current")) td:nth-child(3)');
  assert.equal(await timeOf(officer.page, '[data-testid="next-rotation"]'), created + 30 * DAY);
  await ui.shot(officer.page, "19-crypto-officer-key");
  await officer.context.close();
});

test("the pages asked for nothing outside the server", () => {
  assert.deepEqual(ui.outside, []);
});
