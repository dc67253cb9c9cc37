import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { useConsole } from "../context.ts";
import { Time, useLoad } from "../ui.tsx";

const STEPS: Array<[string, number]> = [
  ["+1 hour", 3600],
  ["+1 day", 86400],
  ["+7 days", 7 * 86400],
  ["+30 days", 30 * 86400],
];

/** With --dev-clock: the instance's time, and a control to move it forward (then every page reloads). */
export function DevClock() {
  const { epoch, refresh, session } = useConsole();
  const clock = useLoad(() => api.admin<{ now: number }>("GET", "/clock"), [epoch]);
  const [step, setStep] = useState(String(86400));
  const [busy, setBusy] = useState(false);
  if (!session.identity.admin) return null;
  return (
    <div class="devclock" role="group" aria-label="Dev clock">
      <span class="devclock-label">Instance time</span>
      <strong data-testid="instance-time">
        <Time s={clock.data?.now} empty="…" />
      </strong>
      <select aria-label="Move the clock by" value={step} onChange={(e) => setStep((e.target as HTMLSelectElement).value)}>
        {STEPS.map(([label, s]) => (
          <option key={s} value={String(s)}>
            {label}
          </option>
        ))}
      </select>
      <button
        type="button"
        class="btn small primary"
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await api.admin("POST", "/clock", { advanceSeconds: Number(step) });
          } finally {
            setBusy(false);
            refresh();
          }
        }}
      >
        Advance
      </button>
    </div>
  );
}
