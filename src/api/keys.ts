import type { FastifyInstance, FastifyRequest } from "fastify";
import type { KeyOperation } from "../crypto/algorithms.ts";
import type { KeyService, KeyVersion, ReleasePolicy } from "../vault/keys.ts";
import type { RotationPolicy, RotationPolicyInput } from "../vault/rotation.ts";
import { policyWire } from "./policies.ts";
import type { Vault } from "../vault/vaults.ts";
import type { VaultRequest } from "../http/pipeline.ts";
import { vaultRoute } from "./context.ts";
import { objectRoutes } from "./objects.ts";
import { attributesOf, fromWireBytes, fromWireTime, objectId, tagsSchema, timeSchema } from "./wire.ts";

interface KeyAttributesBody {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
  exportable?: boolean;
}

interface CreateBody {
  kty: string;
  key_size?: number;
  public_exponent?: number;
  crv?: string;
  key_ops?: string[];
  attributes?: KeyAttributesBody;
  tags?: Record<string, string>;
  release_policy?: ReleasePolicy;
}

interface ImportBody {
  Hsm?: boolean;
  key: Record<string, unknown>;
  attributes?: KeyAttributesBody;
  tags?: Record<string, string>;
  release_policy?: ReleasePolicy;
}

interface UpdateBody {
  key_ops?: string[];
  attributes?: KeyAttributesBody;
  tags?: Record<string, string>;
  release_policy?: ReleasePolicy;
}

interface OperationBody {
  alg: string;
  value: string;
  iv?: string;
  aad?: string;
  tag?: string;
  digest?: string;
}

const attributesSchema = {
  type: "object",
  properties: { enabled: { type: "boolean" }, nbf: timeSchema, exp: timeSchema, exportable: { type: "boolean" } },
} as const;
const keyOpsSchema = { type: "array", items: { type: "string" } } as const;
const releasePolicySchema = {
  type: "object",
  properties: { contentType: { type: "string" }, immutable: { type: "boolean" }, data: { type: "string" } },
} as const;

const createSchema = {
  type: "object",
  required: ["kty"],
  properties: {
    kty: { type: "string" },
    key_size: { type: "integer" },
    public_exponent: { type: "integer" },
    crv: { type: "string" },
    key_ops: keyOpsSchema,
    attributes: attributesSchema,
    tags: tagsSchema,
    release_policy: releasePolicySchema,
  },
} as const;

const importSchema = {
  type: "object",
  required: ["key"],
  properties: {
    Hsm: { type: "boolean" },
    key: { type: "object" },
    attributes: attributesSchema,
    tags: tagsSchema,
    release_policy: releasePolicySchema,
  },
} as const;

const updateSchema = {
  type: "object",
  properties: { key_ops: keyOpsSchema, attributes: attributesSchema, tags: tagsSchema, release_policy: releasePolicySchema },
} as const;

const b64 = { type: "string" } as const;
const operationSchema = {
  type: "object",
  required: ["alg", "value"],
  properties: { alg: { type: "string" }, value: b64, iv: b64, aad: b64, tag: b64, digest: b64 },
} as const;

const policySchema = {
  type: "object",
  properties: {
    lifetimeActions: {
      type: ["array", "null"],
      items: {
        type: "object",
        properties: {
          trigger: {
            type: "object",
            properties: { timeAfterCreate: { type: ["string", "null"] }, timeBeforeExpiry: { type: ["string", "null"] } },
          },
          action: { type: "object", properties: { type: { type: "string" } } },
        },
      },
    },
    attributes: { type: ["object", "null"], properties: { expiryTime: { type: ["string", "null"] } } },
  },
} as const;

const rngSchema = { type: "object", required: ["count"], properties: { count: { type: "integer" } } } as const;

export function keyBundle(origin: string, vault: Vault, v: KeyVersion) {
  const props = v.props;
  return {
    key: { kid: objectId(origin, "keys", v.object.displayName, v.version), kty: props.kty, key_ops: props.keyOps, ...props.pub },
    attributes: { ...attributesOf(v, vault), ...(props.exportable !== undefined ? { exportable: props.exportable } : {}) },
    ...(v.tags ? { tags: v.tags } : {}),
    ...(props.releasePolicy ? { release_policy: props.releasePolicy } : {}),
    ...(props.managed ? { managed: true } : {}),
  };
}

export function keyItem(origin: string, vault: Vault, v: KeyVersion, versioned: boolean) {
  const props = v.props;
  return {
    kid: objectId(origin, "keys", v.object.displayName, versioned ? v.version : undefined),
    attributes: { ...attributesOf(v, vault), ...(props.exportable !== undefined ? { exportable: props.exportable } : {}) },
    ...(v.tags ? { tags: v.tags } : {}),
    ...(props.managed ? { managed: true } : {}),
  };
}

const policyBody = (origin: string, name: string, policy: RotationPolicy | undefined) => ({
  id: `${objectId(origin, "keys", name)}/rotationpolicy`,
  ...policyWire(policy),
});

const attributeInput = (a: KeyAttributesBody | undefined) => ({
  enabled: a?.enabled,
  nbf: fromWireTime(a?.nbf),
  exp: fromWireTime(a?.exp),
  exportable: a?.exportable,
});

type Params = { name: string; version?: string };
const params = (req: FastifyRequest) => req.params as Params;

/** The keys half of the Key Vault data plane. Handlers map HTTP to KeyService and back. */
export function keyRoutes(app: FastifyInstance, keys: KeyService): void {
  const objects = keys.objects;
  const bundle = (req: VaultRequest, v: KeyVersion) => keyBundle(req.origin, req.vault, v);

  vaultRoute(app, "POST", "/keys/:name/create", "KeyCreate", { body: createSchema }, async (req) => {
    const b = req.body as CreateBody;
    const v = await keys.create(req.vault, params(req).name, {
      kty: b.kty,
      keySize: b.key_size,
      publicExponent: b.public_exponent,
      crv: b.crv,
      keyOps: b.key_ops,
      tags: b.tags,
      releasePolicy: b.release_policy,
      ...attributeInput(b.attributes),
    });
    return bundle(req, v);
  });

  vaultRoute(app, "PUT", "/keys/:name", "KeyImport", { body: importSchema }, async (req) => {
    const b = req.body as ImportBody;
    const v = await keys.import(req.vault, params(req).name, {
      key: b.key,
      hsm: b.Hsm,
      tags: b.tags,
      releasePolicy: b.release_policy,
      ...attributeInput(b.attributes),
    });
    return bundle(req, v);
  });

  vaultRoute(app, "GET", "/keys/:name/{version}", "KeyGet", {}, async (req) =>
    bundle(req, await keys.get(req.vault, params(req).name, params(req).version)),
  );

  vaultRoute(app, "PATCH", "/keys/:name/{version}", "KeyUpdate", { body: updateSchema }, async (req) => {
    const b = (req.body ?? {}) as UpdateBody;
    const { exportable: _ignored, ...attributes } = attributeInput(b.attributes);
    const v = await keys.update(req.vault, params(req).name, params(req).version, {
      keyOps: b.key_ops,
      tags: b.tags,
      releasePolicy: b.release_policy,
      ...attributes,
    });
    return bundle(req, v);
  });

  objectRoutes(app, objects, { bundle: keyBundle, item: keyItem });

  vaultRoute(app, "POST", "/keys/:name/rotate", "KeyRotate", {}, async (req) =>
    bundle(req, await keys.rotate(req.vault, params(req).name)),
  );

  vaultRoute(app, "GET", "/keys/:name/rotationpolicy", "KeyGetRotationPolicy", {}, async (req) => {
    const { displayName, policy } = await keys.getRotationPolicy(req.vault, params(req).name);
    return policyBody(req.origin, displayName, policy);
  });

  vaultRoute(app, "PUT", "/keys/:name/rotationpolicy", "KeyUpdateRotationPolicy", { body: policySchema }, async (req) => {
    const { displayName, policy } = await keys.setRotationPolicy(req.vault, params(req).name, (req.body ?? {}) as RotationPolicyInput);
    return policyBody(req.origin, displayName, policy);
  });

  const operations: Array<[string, KeyOperation, string]> = [
    ["encrypt", "encrypt", "KeyEncrypt"],
    ["decrypt", "decrypt", "KeyDecrypt"],
    ["wrapkey", "wrapKey", "KeyWrap"],
    ["unwrapkey", "unwrapKey", "KeyUnwrap"],
    ["sign", "sign", "KeySign"],
    ["verify", "verify", "KeyVerify"],
  ];
  for (const [segment, op, operationName] of operations) {
    vaultRoute(app, "POST", `/keys/:name/{version}/${segment}`, operationName, { body: operationSchema }, async (req) => {
      const b = req.body as OperationBody;
      const { key, result } = await keys.operate(req.vault, params(req).name, params(req).version, op, {
        alg: b.alg,
        value: fromWireBytes(b.value, "value")!,
        iv: fromWireBytes(b.iv, "iv"),
        aad: fromWireBytes(b.aad, "aad"),
        tag: fromWireBytes(b.tag, "tag"),
        digest: fromWireBytes(b.digest, "digest"),
      });
      if (op === "verify") return { value: result.valid === true };
      const b64url = (u: Uint8Array | undefined) => (u ? Buffer.from(u).toString("base64url") : undefined);
      return {
        kid: objectId(req.origin, "keys", key.object.displayName, key.version),
        value: b64url(result.value),
        ...(result.iv ? { iv: b64url(result.iv) } : {}),
        ...(result.tag ? { tag: b64url(result.tag) } : {}),
        ...(result.aad ? { aad: b64url(result.aad) } : {}),
      };
    });
  }

  vaultRoute(app, "POST", "/keys/:name/{version}/release", "KeyRelease", {}, (req) =>
    keys.release(req.vault, params(req).name, params(req).version),
  );

  vaultRoute(app, "POST", "/rng", "RngGet", { body: rngSchema }, async (req) => ({
    value: keys.randomBytes((req.body as { count: number }).count).toString("base64url"),
  }));
}
