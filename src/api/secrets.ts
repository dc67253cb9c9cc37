import type { FastifyInstance, FastifyRequest } from "fastify";
import type { SecretService, SecretVersion } from "../vault/secrets.ts";
import type { Vault } from "../vault/vaults.ts";
import { vaultRoute } from "./context.ts";
import { objectRoutes } from "./objects.ts";
import { attributesOf, fromWireTime, objectId, tagsSchema, timeSchema } from "./wire.ts";

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

export function secretItem(origin: string, vault: Vault, v: SecretVersion, versioned: boolean) {
  return {
    id: objectId(origin, "secrets", v.object.displayName, versioned ? v.version : undefined),
    attributes: attributesOf(v, vault),
    ...(v.tags ? { tags: v.tags } : {}),
    ...(v.contentType !== null ? { contentType: v.contentType } : {}),
    ...(v.props.managed ? { managed: true } : {}),
  };
}

export const secretBundle = (origin: string, vault: Vault, v: SecretVersion, value?: string) => ({
  ...(value !== undefined ? { value } : {}),
  ...secretItem(origin, vault, v, true),
  // A certificate's secret names the certificate's key.
  ...(v.props.managed ? { kid: objectId(origin, "keys", v.object.displayName, v.version) } : {}),
  ...(v.props.previousVersion ? { previousVersion: v.props.previousVersion } : {}),
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
  vaultRoute(app, "PUT", "/secrets/:name", "SecretSet", { body: setSchema }, async (req) => {
    const body = req.body as SetBody;
    const s = await secrets.set(req.vault, params(req).name, {
      value: body.value,
      contentType: body.contentType,
      tags: body.tags,
      ...attributeInput(body.attributes),
    });
    return secretBundle(req.origin, req.vault, s.version, s.value);
  });

  vaultRoute(app, "GET", "/secrets/:name/{version}", "SecretGet", {}, async (req) => {
    const { outContentType } = req.query as { outContentType?: string };
    const s = await secrets.get(req.vault, params(req).name, params(req).version, outContentType);
    return secretBundle(req.origin, req.vault, s.version, s.value);
  });

  vaultRoute(app, "PATCH", "/secrets/:name/{version}", "SecretUpdate", { body: updateSchema }, async (req) => {
    const body = (req.body ?? {}) as UpdateBody;
    const v = await secrets.update(req.vault, params(req).name, params(req).version, {
      contentType: body.contentType,
      tags: body.tags,
      ...attributeInput(body.attributes),
    });
    return secretBundle(req.origin, req.vault, v);
  });

  objectRoutes(app, secrets.objects, {
    bundle: (origin, vault, v) => secretBundle(origin, vault, v),
    item: secretItem,
  });
}
