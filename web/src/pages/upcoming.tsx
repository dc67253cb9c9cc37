import { useState } from "preact/hooks";
import { KINDS } from "../../../src/kernel/kinds.ts";
import type { UpcomingAction } from "../../../src/scheduler/upcoming.ts";
import { api } from "../api.ts";
import { useConsole } from "../context.ts";
import { Badge, Button, Empty, PageHeader, Show, Time, relative, useLoad, usePages } from "../ui.tsx";
import { ObjectLink } from "./ops.tsx";

/** One piece of scheduled work as GET /lockbox/v1/schedule lists it: the scheduler's view, and the object's id. */
type Scheduled = UpcomingAction & { id: string };

/** How many the page asks for (the admin API's limit is 1000); the page shows them 25 at a time. */
const TOP = 500;

const ACTIONS: Record<string, { label: string; tone: "info" | "warn" | "bad" | "plain" }> = {
  Rotate: { label: "Rotation", tone: "info" },
  NearExpiry: { label: "Near-expiry event", tone: "warn" },
  Expired: { label: "Expiry", tone: "bad" },
  DisablePrevious: { label: "Previous version disabled", tone: "plain" },
  Purge: { label: "Purge", tone: "bad" },
};
const FILTERS: Array<[string, string, (a: string) => boolean]> = [
  ["", "All scheduled work", () => true],
  ["rotations", "Rotations", (a) => a === "Rotate" || a === "DisablePrevious"],
  ["expiry", "Near-expiry and expiry", (a) => a === "NearExpiry" || a === "Expired"],
  ["purges", "Purges of deleted objects", (a) => a === "Purge"],
];

/** The day of an epoch-seconds time in the viewer's zone, as a sortable key (2025-03-01). */
const dayKey = (s: number): string => {
  const d = new Date(s * 1000);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
};
const dayTitle = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** "Today", "Tomorrow", "In 12 days", "Overdue": a day against the instance's now. */
function dayWord(key: string, now: number): string {
  const [y, m, d] = key.split("-").map(Number) as [number, number, number];
  const today = new Date(now * 1000);
  const days = Math.round((Date.UTC(y, m - 1, d) - Date.UTC(today.getFullYear(), today.getMonth(), today.getDate())) / 86_400_000);
  if (days < 0) return "Overdue";
  if (days === 0) return "Today";
  if (days === 1) return "Tomorrow";
  return `In ${days} days`;
}

function Item({ a, now }: { a: Scheduled; now: number }) {
  const what = ACTIONS[a.action] ?? { label: a.action, tone: "plain" as const };
  const due = a.due <= now;
  return (
    <li class={due ? "past" : undefined}>
      <div class="tl-when">
        <Time s={a.due} />
        <span class="muted small"> · {due ? "due now" : relative(a.due, now)}</span>
      </div>
      <div class="tl-what">
        <Badge tone={what.tone}>{what.label}</Badge> <ObjectLink vault={a.vault} kind={a.kind} name={a.name} />{" "}
        <span class="muted small">in {a.vault}</span>
        {a.leasedUntil ? (
          <>
            {" "}
            <Badge tone="info">being done now</Badge>
          </>
        ) : null}
      </div>
      <div class="muted small">
        {a.action === "Purge" ? (
          <>
            Deleted{" "}
            {a.deletedAt !== undefined ? (
              <>
                <Time s={a.deletedAt} />;{" "}
              </>
            ) : null}
            purged for good when its retention runs out.
          </>
        ) : (
          <>
            {a.version ? (
              <>
                {KINDS[a.kind].Noun} version <code title={a.version}>{a.version.slice(0, 8)}</code>
                {a.operationName ? " · " : ""}
              </>
            ) : null}
            {a.operationName ? (
              <>
                audited as <code>{a.operationName}</code>
              </>
            ) : null}
          </>
        )}
      </div>
    </li>
  );
}

/** What the scheduler will do, across vaults, as a timeline grouped by day in the viewer's time zone. */
export function UpcomingPage() {
  const { epoch, session } = useConsole();
  const [vault, setVault] = useState("");
  const [filter, setFilter] = useState("");
  const vaults = useLoad(() => api.vaults().then((r) => r.value), [epoch]);
  const loaded = useLoad(async () => {
    const [schedule, now] = await Promise.all([
      api.admin<{ value: Scheduled[] }>("GET", `/schedule?top=${TOP}${vault ? `&vault=${encodeURIComponent(vault)}` : ""}`),
      session.devClock ? api.admin<{ now: number }>("GET", "/clock").then((c) => c.now) : Promise.resolve(Date.now() / 1000),
    ]);
    return { items: schedule.value, now };
  }, [epoch, vault]);
  const test = (FILTERS.find(([k]) => k === filter) ?? FILTERS[0]!)[2];
  const items = (loaded.data?.items ?? []).filter((a) => test(a.action));
  const { shown, pager } = usePages(items);
  const days: Array<[string, Scheduled[]]> = [];
  for (const a of shown) {
    const key = dayKey(a.due);
    const last = days[days.length - 1];
    if (last && last[0] === key) last[1].push(a);
    else days.push([key, [a]]);
  }
  return (
    <>
      <PageHeader
        title="Upcoming"
        sub={`What the scheduler will do: rotations, near-expiry and expiry events, purges of deleted objects. Times are in your time zone (${zone}).`}
        actions={
          <Button tone="ghost" onClick={loaded.reload}>
            Refresh
          </Button>
        }
      />
      <div class="toolbar">
        <select aria-label="Vault" value={vault} onChange={(e) => setVault(e.currentTarget.value)}>
          <option value="">All vaults</option>
          {(vaults.data ?? []).map((v) => (
            <option key={v.name} value={v.name}>
              {v.name}
            </option>
          ))}
        </select>
        <select aria-label="Kind of work" value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
          {FILTERS.map(([k, label]) => (
            <option key={k} value={k}>
              {label}
            </option>
          ))}
        </select>
        {loaded.data && loaded.data.items.length >= TOP ? (
          <span class="muted small">The first {TOP} shown; choose a vault to see further.</span>
        ) : null}
      </div>
      <Show loaded={loaded} rows={5}>
        {({ now }) =>
          items.length === 0 ? (
            <Empty title="Nothing is scheduled.">
              Give a secret or key a rotation policy, or an expiry date, or delete an object in a vault with soft delete, and it shows here.
            </Empty>
          ) : (
            <>
              <div class="timeline-days">
                {days.map(([key, list]) => (
                  <section key={key} class="timeline-day" aria-label={dayTitle.format(list[0]!.due * 1000)}>
                    <h2>
                      {dayTitle.format(list[0]!.due * 1000)} <span class="muted small">{dayWord(key, now)}</span>
                    </h2>
                    <ul class="timeline">
                      {list.map((a) => (
                        <Item key={`${a.vault}/${a.kind}/${a.name}/${a.action}/${a.version ?? ""}`} a={a} now={now} />
                      ))}
                    </ul>
                  </section>
                ))}
              </div>
              {pager}
            </>
          )
        }
      </Show>
    </>
  );
}
