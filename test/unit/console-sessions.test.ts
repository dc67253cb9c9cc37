import { test } from "node:test";
import assert from "node:assert/strict";
import { ConsoleSessions, csrfMatches, LINK_LIFETIME_MS, SESSION_IDLE_MS, SESSION_LIFETIME_MS } from "../../src/console/sessions.ts";

const clockAt = (start = 1_800_000_000_000) => {
  let now = start;
  return { nowMs: () => now, advance: (ms: number) => void (now += ms) };
};

test("a sign-in link works once, and not after it expires", () => {
  const clock = clockAt();
  const sessions = new ConsoleSessions(clock);
  const { code } = sessions.createLink("id-1");
  assert.equal(sessions.redeemLink(code), "id-1");
  assert.equal(sessions.redeemLink(code), undefined, "a second use signs no one in");

  const late = sessions.createLink("id-1");
  clock.advance(LINK_LIFETIME_MS);
  assert.equal(sessions.redeemLink(late.code), undefined);
  assert.equal(sessions.redeemLink("made-up"), undefined);
});

test("a session ends when idle, and at its lifetime however busy it is", () => {
  const clock = clockAt();
  const sessions = new ConsoleSessions(clock);
  const idle = sessions.open("id-1");
  clock.advance(SESSION_IDLE_MS - 1);
  assert.ok(sessions.find(idle.id), "used within the idle time: still on");
  clock.advance(SESSION_IDLE_MS);
  assert.equal(sessions.find(idle.id), undefined, "idle too long: gone");

  const busy = sessions.open("id-1");
  for (let t = 0; t < SESSION_LIFETIME_MS - 60_000; t += SESSION_IDLE_MS / 2) {
    assert.ok(sessions.find(busy.id));
    clock.advance(SESSION_IDLE_MS / 2);
  }
  clock.advance(SESSION_IDLE_MS / 2);
  assert.equal(sessions.find(busy.id), undefined, "past its lifetime: gone");
});

test("signing out, and closing an identity's sessions, end them; the CSRF value is the session's own", () => {
  const sessions = new ConsoleSessions(clockAt());
  const a = sessions.open("id-1");
  const b = sessions.open("id-1");
  const c = sessions.open("id-2");
  assert.notEqual(a.session.csrf, b.session.csrf);
  assert.ok(csrfMatches(a.session, a.session.csrf));
  assert.ok(!csrfMatches(a.session, b.session.csrf));
  assert.ok(!csrfMatches(a.session, undefined));
  sessions.close(a.id);
  assert.equal(sessions.find(a.id), undefined);
  sessions.closeAllOf("id-1");
  assert.equal(sessions.find(b.id), undefined);
  assert.ok(sessions.find(c.id));
});
