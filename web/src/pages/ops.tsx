// What the operator's pages (identities, access, events, audit, upcoming) share: the identity
// list of the admin API, links to an object's page, and the shapes the admin API answers.
import { KINDS, type ObjectKind } from "../../../src/kernel/kinds.ts";
import type { IdentityRecord } from "../../../src/store/store.ts";
import { api } from "../api.ts";
import { seg } from "../router.ts";
import type { ComponentChildren } from "preact";
import { Badge, Link, useLoad, type Loaded } from "../ui.tsx";

/** An identity as GET /lockbox/v1/identities lists it: its record without the credential's hash. */
export type IdentityRow = Omit<IdentityRecord, "secretHash">;

/** Every identity (managed identities and service principals), reloaded when `deps` change. */
export function useIdentities(deps: unknown[]): Loaded<IdentityRow[]> {
  return useLoad(() => api.admin<{ value: IdentityRow[] }>("GET", "/identities").then((r) => r.value), deps);
}

export const kindLabel = (kind: IdentityRow["kind"]): string => (kind === "sp" ? "Service principal" : "Managed identity");

/** An identity by its object id, as a person reads it: its name and kind, or the bare id when it is gone. */
export function IdentityName({ id, identities }: { id: string; identities: IdentityRow[] | undefined }) {
  const found = identities?.find((i) => i.id === id);
  if (!found)
    return (
      <span class="mono" title="No identity has this object id any more">
        {id}
      </span>
    );
  return (
    <span class="who-cell">
      <strong>{found.name}</strong>
      <span class="muted small">{kindLabel(found.kind)}</span>
      {found.enabled ? null : <Badge tone="bad">disabled</Badge>}
    </span>
  );
}

/** The console path of an object's page: /vaults/VAULT/secrets/NAME. */
export const objectPage = (vault: string, kind: ObjectKind, name: string): string =>
  `/vaults/${seg(vault)}/${KINDS[kind].collection}/${seg(name)}`;

/** A link to an object's page, its kind before its name. */
export function ObjectLink({ vault, kind, name }: { vault: string; kind: ObjectKind; name: string }) {
  return (
    <Link to={objectPage(vault, kind, name)}>
      <span class="muted">{KINDS[kind].noun}</span> {name}
    </Link>
  );
}

/** A small quiet button for a row of a table (ui.tsx's Button has no small size). */
export function SmallButton({
  onClick,
  children,
  label,
  expanded,
}: {
  onClick: () => void;
  label?: string;
  expanded?: boolean;
  children: ComponentChildren;
}) {
  return (
    <button type="button" class="btn ghost small" onClick={onClick} aria-label={label} aria-expanded={expanded}>
      {children}
    </button>
  );
}
