import { useEffect, useState } from "preact/hooks";
import type { DeliveryView } from "../../../src/events/subscriptions.ts";
import { EVENT_TYPES } from "../../../src/events/types.ts";
import { kindNamed } from "../../../src/kernel/kinds.ts";
import type { SubscriptionRecord } from "../../../src/store/store.ts";
import { api } from "../api.ts";
import { useConsole } from "../context.ts";
import { seg } from "../router.ts";
import {
  Badge,
  Button,
  ConfirmButton,
  Empty,
  ErrorBanner,
  Field,
  FormActions,
  ListTable,
  Notice,
  PageHeader,
  Section,
  Show,
  Time,
  useAction,
  useLoad,
  usePages,
} from "../ui.tsx";
import { ObjectLink, SmallButton } from "./ops.tsx";

/** A subscription as GET /lockbox/v1/vaults/:vault/subscriptions lists it (api/admin.ts subscriptionBody). */
type Subscription = Pick<SubscriptionRecord, "id" | "vault" | "endpoint" | "schema" | "types" | "validated" | "created">;
/** One event's delivery to a subscription, as GET .../subscriptions/:id/deliveries lists it. */
type Delivery = DeliveryView;

/**
 * While something is still to happen (a handshake, a delivery), the page asks again this
 * often, for two minutes at most (each ask is an audited admin call); Refresh asks at once.
 */
const POLL_MS = 2500;
const POLL_FOR_MS = 120_000;

const SCHEMAS: Array<[Subscription["schema"], string]> = [
  ["eventgrid", "Event Grid schema"],
  ["cloudevents", "CloudEvents 1.0"],
];
const shortType = (t: string) => t.replace(/^Microsoft\.KeyVault\./, "");
const STATUS_TONE: Record<Delivery["status"], "ok" | "info" | "warn" | "bad"> = {
  delivered: "ok",
  pending: "info",
  failed: "warn",
  abandoned: "bad",
};

/** Calls `reload` every POLL_MS while `active`, for POLL_FOR_MS from when it became active or `since` changed. */
function usePoll(active: boolean, reload: () => void, since: unknown = undefined): void {
  useEffect(() => {
    if (!active) return;
    const until = Date.now() + POLL_FOR_MS;
    const t = setInterval(() => (Date.now() > until ? clearInterval(t) : reload()), POLL_MS);
    return () => clearInterval(t);
  }, [active, reload, since]);
}

/** A vault's event subscriptions (webhooks): create, delete, and each one's recent deliveries. */
export function EventsPage({ vault }: { vault: string }) {
  const { epoch, session } = useConsole();
  const path = `/vaults/${seg(vault)}/subscriptions`;
  const subs = useLoad(() => api.admin<{ value: Subscription[] }>("GET", path).then((r) => r.value), [path, epoch]);
  const [adding, setAdding] = useState(false);
  const [open, setOpen] = useState<string | undefined>(undefined);
  const [done, setDone] = useState("");
  const action = useAction();
  usePoll(Boolean(subs.data?.some((s) => !s.validated)), subs.reload);
  return (
    <>
      <PageHeader
        title="Events"
        sub={<>{vault} · Key Vault's events (new versions, near expiry, expiry) sent to webhooks, as Event Grid sends them.</>}
        actions={
          adding || !session.identity.admin ? null : (
            <Button
              tone="primary"
              onClick={() => {
                setDone("");
                setAdding(true);
              }}
            >
              New subscription
            </Button>
          )
        }
      />
      {done ? <Notice>{done}</Notice> : null}
      {adding ? (
        <Subscribe
          path={path}
          onCancel={() => setAdding(false)}
          onCreated={(s) => {
            setAdding(false);
            setOpen(s.id);
            setDone(`Subscribed ${s.endpoint}. Nothing is delivered until it answers the validation handshake.`);
            subs.reload();
          }}
        />
      ) : null}
      <ErrorBanner error={action.error} />
      <Show loaded={subs} rows={3}>
        {(all) =>
          all.length === 0 ? (
            <Empty title="No event subscriptions.">Subscribe a webhook to hear of new versions and expiries in {vault}.</Empty>
          ) : (
            <div class="subscriptions">
              {all.map((s) => (
                <section key={s.id} class="card" aria-label={`Subscription ${s.endpoint}`}>
                  <div class="card-head">
                    <h2 class="endpoint">
                      <code>{s.endpoint}</code>
                    </h2>
                    <div class="actions">
                      <SmallButton expanded={open === s.id} onClick={() => setOpen(open === s.id ? undefined : s.id)}>
                        {open === s.id ? "Hide deliveries" : "Deliveries"}
                      </SmallButton>
                      <ConfirmButton
                        small
                        label="Delete"
                        title="Delete the subscription"
                        question={
                          <p>
                            Nothing more is sent to <code>{s.endpoint}</code>, and its delivery history goes with it.
                          </p>
                        }
                        onConfirm={() =>
                          action
                            .run(async () => {
                              await api.admin("DELETE", `${path}/${s.id}`);
                              setDone(`Deleted the subscription of ${s.endpoint}.`);
                            })
                            .then(subs.reload)
                        }
                      />
                    </div>
                  </div>
                  <dl class="props">
                    <dt>Handshake</dt>
                    <dd>
                      {s.validated ? (
                        <Badge tone="ok">validated</Badge>
                      ) : (
                        <Badge tone="warn">waiting for the endpoint to answer the validation handshake</Badge>
                      )}
                    </dd>
                    <dt>Schema</dt>
                    <dd>{SCHEMAS.find(([k]) => k === s.schema)?.[1] ?? s.schema}</dd>
                    <dt>Event types</dt>
                    <dd>
                      {s.types ? (
                        <span class="tags">
                          {s.types.map((t) => (
                            <span key={t} class="tag">
                              {shortType(t)}
                            </span>
                          ))}
                        </span>
                      ) : (
                        <span class="muted">all</span>
                      )}
                    </dd>
                    <dt>Created</dt>
                    <dd>
                      <Time s={s.created} />
                    </dd>
                  </dl>
                  {open === s.id ? <Deliveries vault={vault} path={`${path}/${s.id}/deliveries`} /> : null}
                </section>
              ))}
            </div>
          )
        }
      </Show>
    </>
  );
}

function Subscribe({ path, onCreated, onCancel }: { path: string; onCreated: (s: Subscription) => void; onCancel: () => void }) {
  const [endpoint, setEndpoint] = useState("");
  const [schema, setSchema] = useState<Subscription["schema"]>("eventgrid");
  const [types, setTypes] = useState<string[]>([]);
  const action = useAction();
  return (
    <Section title="New subscription">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          let made: Subscription | undefined;
          const ok = await action.run(async () => {
            made = await api.admin<Subscription>("POST", path, { endpoint: endpoint.trim(), schema, ...(types.length ? { types } : {}) });
          });
          if (ok && made) onCreated(made);
        }}
      >
        <div class="form-row">
          <Field label="Endpoint" hint="An http or https URL. It must answer Event Grid's validation handshake (or CloudEvents' OPTIONS).">
            <input
              type="url"
              required
              placeholder="https://example.internal/hooks/keyvault"
              value={endpoint}
              onInput={(e) => setEndpoint(e.currentTarget.value)}
            />
          </Field>
          <Field label="Schema">
            <select value={schema} onChange={(e) => setSchema(e.currentTarget.value as Subscription["schema"])}>
              {SCHEMAS.map(([k, label]) => (
                <option key={k} value={k}>
                  {label}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <fieldset class="choice">
          <legend>
            Event types <span class="muted small">— none ticked: all of them</span>
          </legend>
          <div class="type-grid">
            {EVENT_TYPES.map((t) => (
              <label key={t} class="check">
                <input
                  type="checkbox"
                  checked={types.includes(t)}
                  onChange={(e) => setTypes((x) => (e.currentTarget.checked ? [...x, t] : x.filter((y) => y !== t)))}
                />
                <span>{shortType(t)}</span>
              </label>
            ))}
          </div>
        </fieldset>
        <FormActions submit="Subscribe" busy={action.busy} error={action.error} onCancel={onCancel} />
      </form>
    </Section>
  );
}

function Deliveries({ vault, path }: { vault: string; path: string }) {
  const { epoch } = useConsole();
  const deliveries = useLoad(() => api.admin<{ value: Delivery[] }>("GET", path).then((r) => r.value), [path, epoch]);
  const list = deliveries.data ?? [];
  // Asked again while something is still to be delivered (or nothing has come yet, as after a change).
  const waiting = list.filter((d) => d.status === "pending" || d.status === "failed").length;
  usePoll(list.length === 0 || waiting > 0, deliveries.reload, `${list.length}/${waiting}`);
  const { shown, pager } = usePages(list, 10);
  return (
    <div class="deliveries">
      <div class="card-head">
        <h3>Recent deliveries</h3>
        <SmallButton onClick={deliveries.reload}>Refresh</SmallButton>
      </div>
      <Show loaded={deliveries} rows={2}>
        {(all) =>
          all.length === 0 ? (
            <Empty title="No deliveries yet.">Change a secret, key or certificate in this vault and its event shows here.</Empty>
          ) : (
            <>
              <ListTable
                class="stack"
                label="Deliveries"
                head={
                  <>
                    <th>Event</th>
                    <th>Status</th>
                    <th>Attempts</th>
                    <th class="hide-narrow">Last attempt</th>
                    <th class="hide-narrow">Next attempt</th>
                  </>
                }
              >
                {shown.map((d) => {
                  const noun = /^Microsoft\.KeyVault\.(Secret|Key|Certificate)/.exec(d.eventType)?.[1];
                  const kind = noun ? kindNamed(noun)?.kind : undefined;
                  return (
                    <tr key={d.eventId}>
                      <td>
                        <strong>{shortType(d.eventType)}</strong>
                        <div class="small">
                          {kind ? <ObjectLink vault={vault} kind={kind} name={d.subject} /> : d.subject} ·{" "}
                          <span class="muted">
                            <Time s={d.eventTime} />
                          </span>
                        </div>
                      </td>
                      <td>
                        <Badge tone={STATUS_TONE[d.status]}>{d.status}</Badge>
                        {d.lastError || d.lastStatus ? <div class="small muted">{d.lastError ?? `HTTP ${d.lastStatus}`}</div> : null}
                      </td>
                      <td>
                        {d.attempts}
                        {d.attempts > 1 ? <span class="muted small"> ({d.attempts - 1} retries)</span> : null}
                      </td>
                      <td class="hide-narrow">
                        <Time s={d.lastAttemptAt} empty="not yet" />
                      </td>
                      <td class="hide-narrow">
                        <Time s={d.nextAttemptAt} />
                      </td>
                    </tr>
                  );
                })}
              </ListTable>
              {pager}
            </>
          )
        }
      </Show>
    </div>
  );
}
