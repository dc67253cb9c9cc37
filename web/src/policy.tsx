import { useState } from "preact/hooks";
import { api } from "./api.ts";
import { Button, ErrorBanner, Field, Notice, Time, relative, useAction, useLoad } from "./ui.tsx";

/** A rotation policy as Key Vault's wire (and Lockbox's secret policies) have it. */
export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: string };
}
export interface PolicyWire {
  id?: string;
  lifetimeActions?: LifetimeAction[];
  attributes?: { expiryTime?: string; created?: number; updated?: number };
  generator?: { type: string; length?: number; classes?: string[]; url?: string };
  overlap?: string;
}

/** Whole days of an ISO 8601 duration of days, weeks, months (30 days) or years (365); undefined for others. */
export function durationDays(text: string | undefined): number | undefined {
  const m = text ? /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$/.exec(text) : null;
  if (!m || text === "P") return undefined;
  const [, y, mo, w, d] = m.map((x) => Number(x ?? 0));
  return y! * 365 + mo! * 30 + w! * 7 + d!;
}

/** "P30D" in words. */
export const durationText = (text: string): string => {
  const d = durationDays(text);
  return d === undefined ? text : `${d} day${d === 1 ? "" : "s"}`;
};

/** A policy's lifetime actions in words: "Rotate 30 days after creation; Notify 7 days before expiry". */
export function policySummary(p: PolicyWire | undefined): string {
  const actions = p?.lifetimeActions ?? [];
  if (!actions.length) return "No lifetime actions.";
  return actions
    .map((a) =>
      a.trigger.timeAfterCreate
        ? `${a.action.type} ${durationText(a.trigger.timeAfterCreate)} after creation`
        : `${a.action.type} ${durationText(a.trigger.timeBeforeExpiry ?? "")} before expiry`,
    )
    .join("; ");
}

/** A scheduled action, as GET /lockbox/v1/schedule lists it. */
export interface ScheduledAction {
  vault: string;
  kind: string;
  name: string;
  version?: string;
  action: string;
  due: number;
}

/**
 * What the scheduler will do next to one object, from the admin API's schedule (what it will
 * actually do, not a guess from the policy); undefined for callers who are not administrators.
 */
export function useSchedule(vault: string, kind: string, name: string, admin: boolean, deps: unknown[]) {
  return useLoad(
    async () =>
      admin
        ? (await api.admin<{ value: ScheduledAction[] }>("GET", `/schedule?vault=${encodeURIComponent(vault)}`)).value.filter(
            (s) => s.kind === kind && s.name === name,
          )
        : undefined,
    deps,
  );
}

export function NextDue({ schedule }: { schedule: ScheduledAction[] | undefined }) {
  if (!schedule) return null;
  if (!schedule.length) return <p class="muted">Nothing is scheduled for it.</p>;
  return (
    <ul class="plain-list" aria-label="Scheduled">
      {schedule.map((s) => (
        <li key={`${s.action}-${s.due}`}>
          <strong>{s.action}</strong> <Time s={s.due} /> <span class="muted">({relative(s.due)})</span>
        </li>
      ))}
    </ul>
  );
}

/**
 * Edits a rotation policy as a person thinks of it: rotate N days after creation, notify N
 * days before expiry, versions expire after N days (and, for secrets, the generated value's
 * length and an overlap). Saves Azure's shape with `save`.
 */
export function PolicyEditor({
  policy,
  save,
  secret,
}: {
  policy: PolicyWire | undefined;
  save: (p: PolicyWire) => Promise<unknown>;
  /** A secret's policy: also its generator and overlap. */
  secret?: boolean;
}) {
  const find = (type: string, trigger: "timeAfterCreate" | "timeBeforeExpiry") =>
    durationDays(
      policy?.lifetimeActions?.find((a) => a.action.type.toLowerCase() === type.toLowerCase() && a.trigger[trigger])?.trigger[trigger],
    );
  const [rotateAfter, setRotateAfter] = useState(String(find("Rotate", "timeAfterCreate") ?? ""));
  const [notifyBefore, setNotifyBefore] = useState(String(find("Notify", "timeBeforeExpiry") ?? ""));
  const [expiry, setExpiry] = useState(String(durationDays(policy?.attributes?.expiryTime) ?? ""));
  const [length, setLength] = useState(String(policy?.generator?.length ?? 32));
  const [overlap, setOverlap] = useState(String(durationDays(policy?.overlap) ?? ""));
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const num = (s: string) => (s.trim() === "" ? undefined : Number(s));
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        setSaved(false);
        const lifetimeActions: LifetimeAction[] = [];
        if (num(rotateAfter) !== undefined)
          lifetimeActions.push({ trigger: { timeAfterCreate: `P${num(rotateAfter)}D` }, action: { type: "Rotate" } });
        if (num(notifyBefore) !== undefined)
          lifetimeActions.push({ trigger: { timeBeforeExpiry: `P${num(notifyBefore)}D` }, action: { type: "Notify" } });
        const body: PolicyWire = {
          lifetimeActions,
          attributes: num(expiry) !== undefined ? { expiryTime: `P${num(expiry)}D` } : {},
          ...(secret
            ? {
                generator:
                  policy?.generator?.type === "webhook"
                    ? policy.generator
                    : { type: "random", length: Number(length), classes: policy?.generator?.classes },
                ...(num(overlap) !== undefined ? { overlap: `P${num(overlap)}D` } : {}),
              }
            : {}),
        };
        if (await action.run(() => save(body))) setSaved(true);
      }}
    >
      <div class="grid2">
        <Field label="Rotate after (days from creation)" hint="Empty: no automatic rotation">
          <input type="number" min={1} value={rotateAfter} onInput={(e) => setRotateAfter((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="Notify before expiry (days)" hint="A NearExpiry event this long before a version expires">
          <input type="number" min={1} value={notifyBefore} onInput={(e) => setNotifyBefore((e.target as HTMLInputElement).value)} />
        </Field>
        <Field label="New versions expire after (days)" hint="Empty: they do not expire">
          <input type="number" min={1} value={expiry} onInput={(e) => setExpiry((e.target as HTMLInputElement).value)} />
        </Field>
        {secret && policy?.generator?.type !== "webhook" ? (
          <Field label="Generated value length" hint="8 to 4096 characters">
            <input type="number" min={8} max={4096} value={length} onInput={(e) => setLength((e.target as HTMLInputElement).value)} />
          </Field>
        ) : null}
        {secret ? (
          <Field label="Overlap (days)" hint="The replaced version stays enabled this long after a rotation">
            <input type="number" min={1} value={overlap} onInput={(e) => setOverlap((e.target as HTMLInputElement).value)} />
          </Field>
        ) : null}
      </div>
      {secret && policy?.generator?.type === "webhook" ? (
        <p class="muted">New values come from the webhook {policy.generator.url}.</p>
      ) : null}
      <ErrorBanner error={action.error} />
      {saved ? <Notice>Rotation policy saved.</Notice> : null}
      <Button tone="primary" type="submit" busy={action.busy}>
        Save policy
      </Button>
    </form>
  );
}
