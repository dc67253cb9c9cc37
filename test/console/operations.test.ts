import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ClientSecretCredential, DefaultAzureCredential } from "@azure/identity";
import { KeyClient } from "@azure/keyvault-keys";
import { SecretClient } from "@azure/keyvault-secrets";
import type { Page } from "playwright-core";
import { consoleBrowser, signInLink, type ConsoleBrowser } from "../helpers/browser.ts";
import { removeDataDir, saveEnvironment, startLockbox, stopOrKill, useEnvironment, type Lockbox } from "../helpers/server.ts";
import { rejectsWith } from "../helpers/sdk.ts";
import { startWebhook, type Webhook } from "../helpers/webhook.ts";
import { eventually } from "../helpers/wait.ts";
import { developerToken, raw } from "../helpers/http.ts";

// The operator's pages of the console (identities, access, audit, events, upcoming) in
// Chromium against one server with the dev clock: an administrator makes a service
// principal and gives it a role, the service principal signs in and finds no admin pages,
// the audit log shows what it did, a webhook hears of a change, and the timeline of
// scheduled work moves with the dev clock.
const restoreEnvironment = saveEnvironment();
const server: Lockbox = await startLockbox({ args: ["--dev-clock"] });
useEnvironment(server);
// Made at the top level: the browser helper closes its browser in an after() of its caller's scope.
const cb: ConsoleBrowser = await consoleBrowser(server, import.meta.filename);
let admin: Page;
let hook: Webhook;
/** The service principal made in the identities page, as a program gets it from there. */
const sp = { name: "ci-app", clientId: "", clientSecret: "", env: {} as Record<string, string> };

const LIMIT = { timeout: 120_000 };
const developerSecrets = () => new SecretClient(server.vaultUrl(), new DefaultAzureCredential());

before(async () => {
  hook = await startWebhook();
  ({ page: admin } = await cb.open());
  await admin.goto(signInLink(server));
  await admin.getByRole("button", { name: "Sign out" }).waitFor();
});

after(async () => {
  restoreEnvironment();
  await hook?.close();
  await stopOrKill(server);
  removeDataDir(server.dataDir);
});

const go = (page: Page, path: string) => page.goto(`${cb.origin}/console${path}`);
const row = (page: Page, ...texts: string[]) => texts.reduce((l, t) => l.filter({ hasText: t }), page.getByRole("row"));

/** Waits until the audit page lists lines and every one of them holds all of `texts` (a filter's answer, not the last one's). */
const onlyLines = (...texts: string[]) =>
  eventually(`only audit lines with ${texts.join(", ")}`, 15_000, async () => {
    const lines = await admin.getByRole("table", { name: "Audit log" }).locator("tbody tr:not(.detail)").allTextContents();
    assert.ok(lines.length > 0 && lines.every((l) => texts.every((t) => l.includes(t))), lines.join("\n"));
  });

describe("the console's operator pages", () => {
  test("the identities page makes a service principal and shows its secret once", LIMIT, async () => {
    await admin.getByRole("link", { name: "Identities" }).click();
    await admin.getByRole("heading", { name: "Identities" }).waitFor();
    await admin.getByRole("button", { name: "New identity" }).click();
    await admin.getByLabel("Name").fill(sp.name);
    // The label wraps its select, so the name goes on with the chosen option.
    await admin.getByLabel(/^Kind/).selectOption("sp");
    await admin.getByRole("button", { name: "Create", exact: true }).click();

    await admin.getByText("Shown once.").waitFor();
    sp.clientId = await admin.getByRole("textbox", { name: "Client id" }).inputValue();
    sp.clientSecret = await admin.getByRole("textbox", { name: "Client secret" }).inputValue();
    assert.match(sp.clientId, /^[0-9a-f-]{36}$/);
    assert.ok(sp.clientSecret.length >= 32, `a client secret: ${sp.clientSecret}`);
    const lines = await admin.getByRole("textbox", { name: "Environment of a program" }).inputValue();
    for (const line of lines.split("\n")) {
      const m = /^export ([A-Z_]+)=(.*)$/.exec(line);
      assert.ok(m, `an export line: ${line}`);
      sp.env[m[1]!] = m[2]!.replace(/^'(.*)'$/, "$1");
    }
    assert.equal(sp.env.AZURE_CLIENT_ID, sp.clientId);
    assert.equal(sp.env.AZURE_CLIENT_SECRET, sp.clientSecret);
    assert.equal(sp.env.AZURE_TENANT_ID, "adfs");
    assert.equal(sp.env.AZURE_AUTHORITY_HOST, cb.origin);
    assert.equal(sp.env.KEYVAULT_URL, server.vaultUrl());
    await row(admin, sp.name, "Service principal").waitFor();
    await cb.shot(admin, "01-identities-secret-shown-once");

    await admin.reload();
    await row(admin, sp.name, "Service principal", "enabled").waitFor();
    assert.equal(await admin.getByText("Shown once.").count(), 0, "the credential panel is gone after a reload");
    assert.ok(!(await admin.content()).includes(sp.clientSecret), "the secret is nowhere in the page after a reload");
    assert.ok((await admin.content()).includes(sp.clientId), "the client id stays listed");
    await cb.shot(admin, "02-identities-after-reload");
  });

  test("the access page assigns the service principal a role on the vault; a duplicate is refused", LIMIT, async () => {
    await go(admin, "/vaults/default/access");
    await admin.getByText("Azure RBAC decides").waitFor();
    await admin.getByRole("button", { name: "Add role assignment" }).click();
    await admin.getByRole("combobox", { name: /^Identity/ }).selectOption({ label: `${sp.name} (service principal)` });
    await admin.getByRole("combobox", { name: /^Role/ }).selectOption("Key Vault Secrets User");
    await cb.shot(admin, "03-access-add-role-assignment");
    await admin.getByRole("button", { name: "Assign" }).click();
    await admin
      .getByRole("status")
      .filter({ hasText: `${sp.name} now has Key Vault Secrets User` })
      .waitFor();
    await row(admin, sp.name, "Key Vault Secrets User", "whole vault").waitFor();
    await cb.shot(admin, "04-access-role-assigned");

    await admin.getByRole("button", { name: "Add role assignment" }).click();
    await admin.getByRole("combobox", { name: /^Identity/ }).selectOption({ label: `${sp.name} (service principal)` });
    await admin.getByRole("combobox", { name: /^Role/ }).selectOption("Key Vault Secrets User");
    await admin.getByRole("button", { name: "Assign" }).click();
    await admin.getByRole("alert").filter({ hasText: "already exists" }).waitFor();
    await admin.getByRole("button", { name: "Cancel" }).click();
    assert.equal(await row(admin, sp.name, "Key Vault Secrets User").count(), 1);
  });

  test("the access page of a vault that uses access policies sets an identity's permissions", LIMIT, async () => {
    const made = await raw(server, {
      method: "POST",
      path: "/lockbox/v1/vaults",
      body: { name: "legacy", authorization: "access-policies" },
      token: await developerToken(server),
    });
    assert.equal(made.status, 201, made.text);
    await go(admin, "/vaults/legacy/access");
    await admin.getByText("Access policies decide").waitFor();
    await admin.getByText("No access policies in this vault.").waitFor();
    await admin.getByRole("button", { name: "Add access policy" }).click();
    await admin.getByRole("combobox", { name: /^Identity/ }).selectOption({ label: `${sp.name} (service principal)` });
    await admin.getByRole("checkbox", { name: "secrets get" }).check();
    await admin.getByRole("checkbox", { name: "secrets list" }).check();
    await cb.shot(admin, "05-access-policy-editor");
    await admin.getByRole("button", { name: "Save access policy" }).click();
    await admin
      .getByRole("status")
      .filter({ hasText: `The access policy of ${sp.name} is saved.` })
      .waitFor();
    const policy = row(admin, sp.name, "Service principal");
    await policy.waitFor();
    assert.deepEqual(
      await policy.locator(".tag").allTextContents(),
      ["get", "list"],
      "secrets get and list, nothing on keys or certificates",
    );
    assert.equal(await policy.getByText("none").count(), 2);
    await cb.shot(admin, "06-access-policy-set");
  });

  test(
    "signed in as the service principal, the console has no admin pages; its API refuses what its role does not grant",
    LIMIT,
    async () => {
      await developerSecrets().setSecret("app-db", "first value");
      // The program's side, with the environment lines the identities page showed.
      const credential = new ClientSecretCredential(sp.env.AZURE_TENANT_ID!, sp.env.AZURE_CLIENT_ID!, sp.env.AZURE_CLIENT_SECRET!, {
        authorityHost: sp.env.AZURE_AUTHORITY_HOST,
        disableInstanceDiscovery: true,
      });
      const asSp = new SecretClient(sp.env.KEYVAULT_URL!, credential);
      assert.equal((await asSp.getSecret("app-db")).value, "first value");
      await rejectsWith(asSp.setSecret("app-db", "not allowed"), 403, "Forbidden", { inner: "ForbiddenByRbac" });

      const { page } = await cb.open();
      await go(page, "/");
      await page.getByLabel("Client id").fill(sp.clientId);
      await page.getByLabel("Client secret").fill(sp.clientSecret);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("button", { name: "Sign out" }).waitFor();
      await page.getByText(sp.name, { exact: true }).waitFor();
      await page.getByLabel("Vault", { exact: true }).selectOption("default");
      await page.getByRole("link", { name: "Secrets" }).waitFor();
      const nav = page.getByRole("navigation", { name: "Console" });
      for (const adminOnly of ["Upcoming", "Identities", "Audit log", "Access", "Events", "Settings"])
        assert.equal(await nav.getByRole("link", { name: adminOnly }).count(), 0, `no ${adminOnly} link for a non-administrator`);
      await cb.shot(page, "07-service-principal-nav");

      // Reached anyway (a typed or old URL), an admin page says why it shows nothing.
      await go(page, "/identities");
      await page
        .getByRole("alert")
        .filter({ hasText: "Not allowed" })
        .filter({ hasText: `Caller ${sp.name}` })
        .filter({ hasText: "is not a Lockbox administrator" })
        .waitFor();
      assert.equal(await page.getByRole("button", { name: "New identity" }).count(), 0, "no button that would be refused too");
      await cb.shot(page, "08-service-principal-refused-admin-page");
      await page.context().close();
    },
  );

  test("the audit log shows the service principal's calls, filtered, each line's JSON at hand", LIMIT, async () => {
    await admin.getByRole("link", { name: "Audit log" }).click();
    await admin.getByRole("table", { name: "Audit log" }).waitFor();
    await admin.getByLabel("Operation").fill("SecretGet");
    await admin.getByLabel("Caller").fill(sp.name);
    await admin.getByRole("button", { name: "Filter", exact: true }).click();
    await admin.waitForURL(/\/console\/audit\?operation=SecretGet&caller=ci-app$/);
    await onlyLines("SecretGet", sp.name, "Success");
    const line = row(admin, "SecretGet", sp.name, "Success");
    await line
      .getByRole("button", { name: /^Show the line of SecretGet/ })
      .first()
      .click();
    const json = await admin.locator("tr.detail pre.json").first().textContent();
    const event = JSON.parse(json ?? "{}");
    assert.equal(event.operationName, "SecretGet");
    assert.equal(event.identity.claim.appid, sp.clientId);
    assert.match(event.properties.id, /\/secrets\/app-db$/);
    await cb.shot(admin, "09-audit-secret-get-by-sp");

    await admin.getByLabel("Operation").fill("SecretSet");
    await admin.getByLabel("Result").selectOption("Failure");
    await admin.getByRole("button", { name: "Filter", exact: true }).click();
    await onlyLines("SecretSet", sp.name, "Failure: Forbidden");
    await cb.shot(admin, "10-audit-refused-secret-set");

    // A filter that matches nothing says so.
    await admin.getByLabel("Operation").fill("NoSuchOperation");
    await admin.getByRole("button", { name: "Filter", exact: true }).click();
    await admin.getByText("No line matches these filters.").waitFor();
    await admin.getByRole("button", { name: "Clear filters" }).click();
    await admin.waitForURL(/\/console\/audit$/);
    await admin.getByRole("table", { name: "Audit log" }).waitFor();
  });

  test("the events page subscribes a webhook and shows a delivery of a change as delivered", LIMIT, async () => {
    await go(admin, "/vaults/default/events");
    await admin.getByText("No event subscriptions.").waitFor();
    await admin.getByRole("button", { name: "New subscription" }).click();
    await admin.getByLabel("Endpoint").fill(hook.url);
    await admin.getByRole("button", { name: "Subscribe" }).click();
    const card = admin.getByRole("region", { name: `Subscription ${hook.url}` });
    await card.getByText("validated", { exact: true }).waitFor();
    await card.getByText("No deliveries yet.").waitFor();

    const set = await developerSecrets().setSecret("app-db", "second value");
    await hook.waitFor(
      (e) => e.type === "Microsoft.KeyVault.SecretNewVersionCreated" && e.data.Version === set.properties.version,
      "the new version's event",
    );
    const delivery = card.getByRole("table", { name: "Deliveries" }).getByRole("row").filter({ hasText: "SecretNewVersionCreated" });
    await delivery.filter({ hasText: "delivered" }).waitFor();
    assert.match((await delivery.textContent()) ?? "", /app-db/);
    await cb.shot(admin, "11-events-delivered");
  });

  test(
    "the upcoming page shows a key's rotation, and the timeline moves when the dev clock is advanced from the top bar",
    LIMIT,
    async () => {
      const keys = new KeyClient(server.vaultUrl(), new DefaultAzureCredential());
      const key = await keys.createRsaKey("rotating-key");
      await keys.updateKeyRotationPolicy("rotating-key", {
        expiresIn: "P90D",
        lifetimeActions: [{ action: "Rotate", timeAfterCreate: "P10D" }],
      });
      await (await developerSecrets().beginDeleteSecret("app-db")).pollUntilDone();

      await admin.getByRole("link", { name: "Upcoming" }).click();
      const items = admin.locator("ul.timeline li").filter({ hasText: "rotating-key" });
      await items.filter({ hasText: "Rotation" }).waitFor();
      assert.equal(await items.count(), 1, "one rotation planned, nothing else for the key");
      assert.match((await items.textContent()) ?? "", new RegExp(key.properties.version!.slice(0, 8)));
      assert.match((await items.getByRole("link").getAttribute("href")) ?? "", /\/console\/vaults\/default\/keys\/rotating-key$/);
      await admin.locator("ul.timeline li").filter({ hasText: "Purge" }).filter({ hasText: "app-db" }).waitFor();
      assert.match((await admin.getByRole("heading", { level: 2 }).first().textContent()) ?? "", /In 10 days/);
      await cb.shot(admin, "12-upcoming-rotation-planned");

      const before = await admin.getByTestId("instance-time").textContent();
      await admin.getByLabel("Move the clock by").selectOption({ label: "+30 days" });
      await admin.getByRole("button", { name: "Advance" }).click();
      await admin
        .getByTestId("instance-time")
        .filter({ hasNotText: before ?? "" })
        .waitFor();
      // Rotated: the next rotation is planned from the new version, which expires, so its expiry events are planned too.
      await items.filter({ has: admin.getByText("Expiry", { exact: true }) }).waitFor();
      await items.filter({ hasText: "Near-expiry event" }).waitFor();
      const rotation = (await items.filter({ hasText: "Rotation" }).textContent()) ?? "";
      assert.doesNotMatch(rotation, new RegExp(key.properties.version!.slice(0, 8)), "the rotation is planned for the new version");
      const rotated = await keys.getKey("rotating-key");
      assert.notEqual(rotated.properties.version, key.properties.version);
      assert.match(rotation, new RegExp(rotated.properties.version!.slice(0, 8)));
      await cb.shot(admin, "13-upcoming-after-advancing-the-clock");
    },
  );

  test("the pages read on a phone", LIMIT, async () => {
    const { page } = await cb.open({ width: 390, height: 844 });
    await page.goto(signInLink(server));
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await go(page, "/upcoming");
    await page.locator("ul.timeline li").first().waitFor();
    await cb.shot(page, "14-phone-upcoming");
    await go(page, "/identities");
    await row(page, sp.name).waitFor();
    await cb.shot(page, "15-phone-identities");
    await go(page, "/audit?top=25");
    await page.getByRole("table", { name: "Audit log" }).waitFor();
    await cb.shot(page, "16-phone-audit");
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the audit page is ${overflow}px wider than the phone`);
    await page.context().close();
  });

  test("no page asked for anything outside the server", () => {
    assert.deepEqual(cb.outside, []);
  });
});
