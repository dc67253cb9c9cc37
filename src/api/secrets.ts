import type { FastifyInstance, FastifyRequest } from "fastify";
import { pageRequest } from "../http/paging.ts";
import type { VersionView } from "../store/store.ts";
import type { SecretService } from "../vault/secrets.ts";
import type { Vault } from "../vault/vaults.ts";
import { vaultRoute } from "./context.ts";
import { attributesOf, deletedFieldsOf, fromWireTime, listBody, objectId, tagsSchema, timeSchema } from "./wire.ts";

interface AttributesBody {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

interface SetBody {
  value: string;
  contentType?: string;
  tags?: Record<string, string>;
  attributes?: AttributesBody;
}

type UpdateBody = Omit<SetBody, "value">;

const attributesSchema = {
  type: "object",
  properties: { enabled: { type: "boolean" }, nbf: timeSchema, exp: timeSchema },
} as const;

const setSchema = {
  type: "object",
  required: ["value"],
  properties: { value: { type: "string" }, contentType: { type: "string" }, tags: tagsSchema, attributes: attributesSchema },
} as const;

const updateSchema = {
  type: "object",
  properties: { contentType: { type: "string" }, tags: tagsSchema, attributes: attributesSchema },
} as const;

const restoreSchema = { type: "object", required: ["value"], properties: { value: { type: "string" } } } as const;

function secretItem(origin: string, vault: Vault, v: VersionView, versioned: boolean) {
  return {
    id: objectId(origin, "secrets", v.object.displayName, versioned ? v.version : undefined),
    attributes: attributesOf(v, vault),
    ...(v.tags ? { tags: v.tags } : {}),
    ...(v.contentType !== null ? { contentType: v.contentType } : {}),
  };
}

const secretBundle = (origin: string, vault: Vault, v: VersionView, value?: string) => ({
  ...(value !== undefined ? { value } : {}),
  ...secretItem(origin, vault, v, true),
});

const deletedSecretBundle = (origin: string, vault: Vault, v: VersionView) => ({
  ...deletedFieldsOf(origin, "deletedsecrets", v),
  ...secretBundle(origin, vault, v),
});

const attributeInput = (a: AttributesBody | undefined) => ({
  enabled: a?.enabled,
  nbf: fromWireTime(a?.nbf),
  exp: fromWireTime(a?.exp),
});

type Params = { name: string; version?: string };
const params = (req: FastifyRequest) => req.params as Params;

/** The secrets half of the Key Vault data plane. Handlers map HTTP to SecretService and back. */
export function secretRoutes(app: FastifyInstance, secrets: SecretService): void {
  const objects = secrets.objects;

  vaultRoute(app, "PUT", "/secrets/:name", { body: setSchema }, async (req) => {
    const body = req.body as SetBody;
    const s = await secrets.set(req.vault, params(req).name, {
      value: body.value,
      contentType: body.contentType,
      tags: body.tags,
      ...attributeInput(body.attributes),
    });
    return secretBundle(req.origin, req.vault, s.version, s.value);
  });

  vaultRoute(app, "GET", "/secrets/:name/{version}", {}, async (req) => {
    const s = await secrets.get(req.vault, params(req).name, params(req).version);
    return secretBundle(req.origin, req.vault, s.version, s.value);
  });

  vaultRoute(app, "PATCH", "/secrets/:name/{version}", { body: updateSchema }, async (req) => {
    const body = (req.body ?? {}) as UpdateBody;
    const v = await secrets.update(req.vault, params(req).name, params(req).version, {
      contentType: body.contentType,
      tags: body.tags,
      ...attributeInput(body.attributes),
    });
    return secretBundle(req.origin, req.vault, v);
  });

  vaultRoute(app, "DELETE", "/secrets/:name", {}, async (req) =>
    deletedSecretBundle(req.origin, req.vault, await objects.delete(req.vault, params(req).name)),
  );

  vaultRoute(app, "GET", "/secrets", {}, async (req) => {
    const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
    return listBody(req, await objects.list(req.vault, limit, cursor), limit, (v) => secretItem(req.origin, req.vault, v, false));
  });

  vaultRoute(app, "GET", "/secrets/:name/versions", {}, async (req) => {
    const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
    const page = await objects.listVersions(req.vault, params(req).name, limit, cursor);
    return listBody(req, page, limit, (v) => secretItem(req.origin, req.vault, v, true));
  });

  vaultRoute(app, "POST", "/secrets/:name/backup", {}, async (req) => ({
    value: (await objects.backup(req.vault, params(req).name)).toString("base64url"),
  }));

  vaultRoute(app, "POST", "/secrets/restore", { body: restoreSchema }, async (req) => {
    const blob = Buffer.from((req.body as { value: string }).value, "base64url");
    return secretBundle(req.origin, req.vault, await objects.restore(req.vault, blob));
  });

  vaultRoute(app, "GET", "/deletedsecrets", {}, async (req) => {
    const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
    const page = await objects.listDeleted(req.vault, limit, cursor);
    return listBody(req, page, limit, (v) => ({
      ...deletedFieldsOf(req.origin, "deletedsecrets", v),
      ...secretItem(req.origin, req.vault, v, false),
    }));
  });

  vaultRoute(app, "GET", "/deletedsecrets/:name", {}, async (req) =>
    deletedSecretBundle(req.origin, req.vault, await objects.getDeleted(req.vault, params(req).name)),
  );

  vaultRoute(app, "DELETE", "/deletedsecrets/:name", {}, async (req, reply) => {
    await objects.purge(req.vault, params(req).name);
    return reply.code(204).send();
  });

  vaultRoute(app, "POST", "/deletedsecrets/:name/recover", {}, async (req) =>
    secretBundle(req.origin, req.vault, await objects.recover(req.vault, params(req).name)),
  );
}
