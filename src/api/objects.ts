import type { FastifyInstance, FastifyRequest } from "fastify";
import { pageRequest } from "../http/paging.ts";
import { KINDS } from "../kernel/kinds.ts";
import type { PlannedPolicy } from "../vault/lifecycle.ts";
import type { VersionedObjects } from "../vault/objects.ts";
import type { Vault } from "../vault/vaults.ts";
import type { Version } from "../vault/versions.ts";
import { vaultRoute } from "./context.ts";
import { deletedFieldsOf, fromWireBytes, listBody } from "./wire.ts";

/** How one kind of object (secrets, keys) is shown on the wire. */
export interface ObjectWire<V> {
  /** The bundle of a version, as get returns it (without a secret's value). */
  bundle(origin: string, vault: Vault, v: V): object;
  /** A list item: base id for lists of objects, versioned id for lists of versions. */
  item(origin: string, vault: Vault, v: V, versioned: boolean): object;
}

const restoreSchema = { type: "object", required: ["value"], properties: { value: { type: "string" } } } as const;
const nameOf = (req: FastifyRequest): string => (req.params as { name: string }).name;

/**
 * The routes secrets and keys share, over the one implementation of their rules
 * (VersionedObjects): soft delete, lists and paging, backup and restore, the deleted
 * collection with recover and purge.
 */
export function objectRoutes<P, Q extends PlannedPolicy>(
  app: FastifyInstance,
  objects: VersionedObjects<P, Q>,
  wire: ObjectWire<Version<P, Q>>,
  /**
   * What a kind does in place of the engine's own (a certificate deletes, restores... its key
   * and secret with it); `list: "own"` when the kind serves its list itself.
   */
  own: Partial<Pick<VersionedObjects<P, Q>, "delete" | "recover" | "purge" | "backup" | "restore">> & { list?: "own" } = {},
): void {
  const ops = {
    delete: own.delete ?? objects.delete.bind(objects),
    recover: own.recover ?? objects.recover.bind(objects),
    purge: own.purge ?? objects.purge.bind(objects),
    backup: own.backup ?? objects.backup.bind(objects),
    restore: own.restore ?? objects.restore.bind(objects),
  };
  const { collection: c, Noun } = KINDS[objects.rules.kind];
  const deleted = `deleted${c}`;
  const op = (what: string): string => `${Noun}${what}`;
  const deletedBundle = (origin: string, vault: Vault, v: Version<P, Q>) => ({
    ...deletedFieldsOf(origin, deleted, v),
    ...wire.bundle(origin, vault, v),
  });

  vaultRoute(app, "DELETE", `/${c}/:name`, op("Delete"), {}, async (req) =>
    deletedBundle(req.origin, req.vault, await ops.delete(req.vault, nameOf(req))),
  );

  if (own.list !== "own") {
    vaultRoute(app, "GET", `/${c}`, op("List"), {}, async (req) => {
      const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
      return listBody(req, await objects.list(req.vault, limit, cursor), limit, (v) => wire.item(req.origin, req.vault, v, false));
    });
  }

  vaultRoute(app, "GET", `/${c}/:name/versions`, op("ListVersions"), {}, async (req) => {
    const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
    const page = await objects.listVersions(req.vault, nameOf(req), limit, cursor);
    return listBody(req, page, limit, (v) => wire.item(req.origin, req.vault, v, true));
  });

  vaultRoute(app, "POST", `/${c}/:name/backup`, op("Backup"), {}, async (req) => ({
    value: (await ops.backup(req.vault, nameOf(req))).toString("base64url"),
  }));

  vaultRoute(app, "POST", `/${c}/restore`, op("Restore"), { body: restoreSchema }, async (req) => {
    const blob = fromWireBytes((req.body as { value: string }).value, "value")!;
    return wire.bundle(req.origin, req.vault, await ops.restore(req.vault, blob));
  });

  vaultRoute(app, "GET", `/${deleted}`, op("ListDeleted"), {}, async (req) => {
    const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
    const page = await objects.listDeleted(req.vault, limit, cursor);
    return listBody(req, page, limit, (v) => ({
      ...deletedFieldsOf(req.origin, deleted, v),
      ...wire.item(req.origin, req.vault, v, false),
    }));
  });

  vaultRoute(app, "GET", `/${deleted}/:name`, op("GetDeleted"), {}, async (req) =>
    deletedBundle(req.origin, req.vault, await objects.getDeleted(req.vault, nameOf(req))),
  );

  vaultRoute(app, "DELETE", `/${deleted}/:name`, op("Purge"), {}, async (req, reply) => {
    await ops.purge(req.vault, nameOf(req));
    return reply.code(204).send();
  });

  vaultRoute(app, "POST", `/${deleted}/:name/recover`, op("Recover"), {}, async (req) =>
    wire.bundle(req.origin, req.vault, await ops.recover(req.vault, nameOf(req))),
  );
}
