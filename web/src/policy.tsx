import { useState } from "preact/hooks";
import { durationSeconds } from "../../src/vault/durations.ts";
import type { Attributes } from "./api.ts";
import { ScheduleTimeline, type useSchedule } from "./pages/objects.tsx";
import { ErrorBanner, Field, FormActions, relative, Time, useAction } from "./ui.tsx";

// Rotation policies, one form and one summary for keys (Key Vault's policy) and secrets
// (Lockbox's, which adds the generated value's length and an overlap).

export interface LifetimeAction {
  trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string };
  action: { type: string };
}

/** A rotation policy as the wire has it (a secret's is {} until one is set). */
export interface PolicyWire {
  id?: string;
  lifetimeActions?: LifetimeAction[];
  attributes?: { expiryTime?: string | null; created?: number; updated?: number };
  generator?: { type: string; length?: number; classes?: string[]; url?: string };
  overlap?: string;
}

const daysText = (n: number | undefined) => (n === undefined ? "" : n === 1 ? "1 day" : `${n} days`);

/** An ISO 8601 duration as days (months of 30 days, years of 365, as Key Vault counts); undefined if it is none. */
export function durationDays(text: string | null | undefined): number | undefined {
  if (!text) return undefined;
  try {
    return Math.round((durationSeconds(text, "duration") / 86400) * 100) / 100;
  } catch {
    return undefined;
  }
}

type RotateMode = "off" | "after" | "before";

/** The policy in the form's terms: how rotation is triggered and after how many days. */
function policyForm(p: PolicyWire | undefined) {
  const rotate = (p?.lifetimeActions ?? []).find((a) => a.action.type.toLowerCase() === "rotate");
  const notify = (p?.lifetimeActions ?? []).find((a) => a.action.type.toLowerCase() === "notify");
  const mode: RotateMode = rotate?.trigger.timeAfterCreate ? "after" : rotate?.trigger.timeBeforeExpiry ? "before" : "off";
  return {
    mode,
    rotateDays: durationDays(rotate?.trigger.timeAfterCreate ?? rotate?.trigger.timeBeforeExpiry),
    notifyDays: durationDays(notify?.trigger.timeBeforeExpiry),
    expiryDays: durationDays(p?.attributes?.expiryTime),
  };
}

/**
 * When the current version is rotated by the policy, worked out in the page for a caller who
 * may not read the scheduler's plan: its creation plus timeAfterCreate, or its expiry less
 * timeBeforeExpiry (as scheduler/planning.ts plans it).
 */
export function rotationFromPolicy(p: PolicyWire, current: { attributes: Attributes } | undefined): number | undefined {
  const rotate = (p.lifetimeActions ?? []).find((a) => a.action.type.toLowerCase() === "rotate");
  if (!rotate || !current) return undefined;
  try {
    if (rotate.trigger.timeAfterCreate && current.attributes.created !== undefined)
      return current.attributes.created + durationSeconds(rotate.trigger.timeAfterCreate, "timeAfterCreate");
    if (rotate.trigger.timeBeforeExpiry && current.attributes.exp !== undefined)
      return current.attributes.exp - durationSeconds(rotate.trigger.timeBeforeExpiry, "timeBeforeExpiry");
  } catch {
    return undefined;
  }
  return undefined;
}

export function PolicySummary({
  policy,
  now,
  schedule,
  computed,
  noun = "key",
}: {
  policy: PolicyWire;
  now: number;
  schedule: ReturnType<typeof useSchedule>;
  computed: number | undefined;
  /** What the policy is of, for "Everything planned for this key". */
  noun?: string;
}) {
  const f = policyForm(policy);
  const planned = schedule.data?.find((a) => a.action === "Rotate");
  // The scheduler's plan when it can be read (an administrator); else what the policy says.
  const next = schedule.data ? planned?.due : computed;
  return (
    <div class="grid2">
      <dl class="props">
        <dt>Automatic rotation</dt>
        <dd>
          {f.mode === "after"
            ? `Every ${daysText(f.rotateDays)} after a version is created`
            : f.mode === "before"
              ? `${daysText(f.rotateDays)} before a version expires`
              : "Off"}
        </dd>
        <dt>Notification</dt>
        <dd>{f.notifyDays !== undefined ? `${daysText(f.notifyDays)} before expiry` : <span class="muted">none</span>}</dd>
        <dt>New versions expire</dt>
        <dd>
          {f.expiryDays !== undefined ? (
            `${daysText(f.expiryDays)} after they are created`
          ) : (
            <span class="muted">never (no expiry time)</span>
          )}
        </dd>
        <dt>Policy changed</dt>
        <dd>
          {policy.attributes?.updated ? <Time s={policy.attributes.updated} /> : <span class="muted">never set: Key Vault's default</span>}
        </dd>
      </dl>
      <div class="next-due">
        <p class="next-due-label">Next rotation</p>
        {f.mode === "off" ? (
          <p class="muted">Not planned: the policy has no rotation.</p>
        ) : schedule.loading && !schedule.data && !schedule.error ? (
          <p class="muted">…</p>
        ) : next !== undefined ? (
          <>
            <p class="next-due-time" data-testid="next-rotation">
              <Time s={next} />
            </p>
            <p class="muted small">
              {relative(next, now)} ·{" "}
              {schedule.data ? "as the scheduler has planned it" : "from the policy and the current version's creation time"}
            </p>
          </>
        ) : (
          <p class="muted">Not planned yet{f.mode === "before" ? ": the current version has no expiry." : "."}</p>
        )}
        {schedule.error ? <ErrorBanner error={schedule.error} /> : null}
        {schedule.data && schedule.data.length ? (
          <details class="upcoming-details">
            <summary>Everything planned for this {noun}</summary>
            <ScheduleTimeline actions={schedule.data} now={now} />
          </details>
        ) : null}
      </div>
    </div>
  );
}

export function PolicyForm({
  policy,
  save,
  onCancel,
  onSaved,
  secret,
}: {
  policy: PolicyWire;
  /** Stores the policy (Key Vault's PUT .../rotationpolicy, or the admin API's for a secret). */
  save: (body: PolicyWire) => Promise<unknown>;
  onCancel: () => void;
  onSaved: () => void;
  /** A secret's policy (Lockbox's): also the generated value's length and the overlap. */
  secret?: boolean;
}) {
  const start = policyForm(policy);
  const [mode, setMode] = useState<RotateMode>(start.mode);
  const [rotateDays, setRotateDays] = useState(start.rotateDays !== undefined ? String(start.rotateDays) : "90");
  const [notifyDays, setNotifyDays] = useState(start.notifyDays !== undefined ? String(start.notifyDays) : "30");
  const [expiryDays, setExpiryDays] = useState(start.expiryDays !== undefined ? String(start.expiryDays) : "");
  const [length, setLength] = useState(String(policy.generator?.length ?? 32));
  const [overlapDays, setOverlapDays] = useState(durationDays(policy.overlap) !== undefined ? String(durationDays(policy.overlap)) : "");
  const action = useAction();
  const webhook = policy.generator?.type === "webhook";
  const body: PolicyWire = {
    lifetimeActions: [
      ...(mode === "off"
        ? []
        : [
            {
              trigger: mode === "after" ? { timeAfterCreate: `P${rotateDays}D` } : { timeBeforeExpiry: `P${rotateDays}D` },
              action: { type: "Rotate" },
            },
          ]),
      ...(notifyDays.trim() ? [{ trigger: { timeBeforeExpiry: `P${notifyDays.trim()}D` }, action: { type: "Notify" } }] : []),
    ],
    attributes: { expiryTime: expiryDays.trim() ? `P${expiryDays.trim()}D` : null },
    ...(secret
      ? {
          generator: webhook
            ? policy.generator
            : { type: "random", length: Number(length), ...(policy.generator?.classes ? { classes: policy.generator.classes } : {}) },
          ...(overlapDays.trim() ? { overlap: `P${overlapDays.trim()}D` } : {}),
        }
      : {}),
  };
  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        if (await action.run(() => save(body))) onSaved();
      }}
    >
      <div class="grid2">
        <div>
          <Field label="Automatic rotation">
            <select value={mode} onChange={(e) => setMode((e.target as HTMLSelectElement).value as RotateMode)}>
              <option value="off">Off</option>
              <option value="after">Some days after each version is created</option>
              <option value="before">Some days before each version expires</option>
            </select>
          </Field>
          {mode !== "off" ? (
            <Field
              label={mode === "after" ? "Rotate after (days)" : "Rotate before expiry (days)"}
              hint={mode === "after" ? "At least 7." : "At least 7; the policy needs an expiry time."}
            >
              <input type="number" min={7} step={1} required value={rotateDays} onInput={value(setRotateDays)} />
            </Field>
          ) : null}
          <Field label="Notify before expiry (days)" hint="A near-expiry event this many days before a version expires. Blank: 30.">
            <input type="number" min={7} step={1} value={notifyDays} onInput={value(setNotifyDays)} />
          </Field>
          <Field
            label="Expiry time (days)"
            hint="New versions expire this long after they are made; at least 28. Blank: they do not expire."
          >
            <input type="number" min={28} step={1} value={expiryDays} onInput={value(setExpiryDays)} />
          </Field>
          {secret && !webhook ? (
            <Field label="Generated value length" hint="8 to 4096 characters">
              <input type="number" min={8} max={4096} value={length} onInput={value(setLength)} />
            </Field>
          ) : null}
          {secret && webhook ? <p class="muted">New values come from the webhook {policy.generator?.url}.</p> : null}
          {secret ? (
            <Field label="Overlap (days)" hint="The replaced version stays enabled this long after a rotation. Blank: none.">
              <input type="number" min={1} step={1} value={overlapDays} onInput={value(setOverlapDays)} />
            </Field>
          ) : null}
        </div>
        <div>
          <p class="field-label">What Key Vault will store</p>
          <pre class="json">{JSON.stringify(body, null, 2)}</pre>
        </div>
      </div>
      <FormActions submit="Save policy" busy={action.busy} error={action.error} onCancel={onCancel} />
    </form>
  );
}
