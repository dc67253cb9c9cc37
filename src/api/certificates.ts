import type { FastifyInstance, FastifyRequest } from "fastify";
import type { SubjectAlternativeNames } from "../crypto/x509.ts";
import {
  thumbprintOf,
  type CertificateLifetimeAction,
  type CertificateOperation,
  type CertificatePolicy,
  type CertificatePolicyInput,
  type CertificateService,
  type CertificateVersion,
  type PendingCertificate,
} from "../vault/certificates.ts";
import type { Vault } from "../vault/vaults.ts";
import { vaultRoute } from "./context.ts";
import { objectRoutes } from "./objects.ts";
import { base64Bytes } from "../crypto/pkcs12.ts";
import { badParameter } from "../kernel/errors.ts";
import { attributesOf, booleanQuery, listBody, objectId, tagsSchema, timeSchema } from "./wire.ts";
import { pageRequest } from "../http/paging.ts";

/** The policy as the wire spells it (certificates.json's CertificatePolicy). */
interface PolicyBody {
  key_props?: { exportable?: boolean; kty?: string; key_size?: number; reuse_key?: boolean; crv?: string };
  secret_props?: { contentType?: string };
  x509_props?: {
    subject?: string;
    sans?: { emails?: string[]; dns_names?: string[]; upns?: string[]; ipAddresses?: string[]; uris?: string[] };
    ekus?: string[];
    key_usage?: string[];
    validity_months?: number;
  };
  lifetime_actions?: Array<{ trigger?: { lifetime_percentage?: number; days_before_expiry?: number }; action?: { action_type?: string } }>;
  issuer?: { name?: string; cty?: string; cert_transparency?: boolean };
  attributes?: { enabled?: boolean };
}

interface AttributesBody {
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

const stringList = { type: "array", items: { type: "string" } } as const;
const policySchema = {
  type: "object",
  properties: {
    key_props: {
      type: "object",
      properties: {
        exportable: { type: "boolean" },
        kty: { type: "string" },
        key_size: { type: "integer" },
        reuse_key: { type: "boolean" },
        crv: { type: "string" },
      },
    },
    secret_props: { type: "object", properties: { contentType: { type: "string" } } },
    x509_props: {
      type: "object",
      properties: {
        subject: { type: "string" },
        sans: {
          type: "object",
          properties: { emails: stringList, dns_names: stringList, upns: stringList, ipAddresses: stringList, uris: stringList },
        },
        ekus: stringList,
        key_usage: stringList,
        validity_months: { type: "integer" },
      },
    },
    lifetime_actions: {
      type: "array",
      items: {
        type: "object",
        properties: {
          trigger: { type: "object", properties: { lifetime_percentage: { type: "integer" }, days_before_expiry: { type: "integer" } } },
          action: { type: "object", properties: { action_type: { type: "string" } } },
        },
      },
    },
    issuer: { type: "object", properties: { name: { type: "string" }, cty: { type: "string" }, cert_transparency: { type: "boolean" } } },
    attributes: { type: "object", properties: { enabled: { type: "boolean" } } },
  },
} as const;
const attributesSchema = { type: "object", properties: { enabled: { type: "boolean" }, nbf: timeSchema, exp: timeSchema } } as const;
const createSchema = {
  type: "object",
  properties: { policy: policySchema, attributes: attributesSchema, tags: tagsSchema, preserveCertOrder: { type: "boolean" } },
} as const;
const importSchema = {
  type: "object",
  required: ["value"],
  properties: {
    value: { type: "string" },
    pwd: { type: "string" },
    policy: policySchema,
    attributes: attributesSchema,
    tags: tagsSchema,
    preserveCertOrder: { type: "boolean" },
  },
} as const;
const pendingUpdateSchema = {
  type: "object",
  required: ["cancellation_requested"],
  properties: { cancellation_requested: { type: "boolean" } },
} as const;
const mergeSchema = {
  type: "object",
  required: ["x5c"],
  properties: { x5c: { type: "array", minItems: 1, items: { type: "string" } }, attributes: attributesSchema, tags: tagsSchema },
} as const;
const updateSchema = { type: "object", properties: { policy: policySchema, attributes: attributesSchema, tags: tagsSchema } } as const;

function policyInput(body: PolicyBody): CertificatePolicyInput {
  const k = body.key_props;
  const x = body.x509_props;
  const sans: SubjectAlternativeNames | undefined = x?.sans && {
    ...(x.sans.dns_names ? { dnsNames: x.sans.dns_names } : {}),
    ...(x.sans.emails ? { emails: x.sans.emails } : {}),
    ...(x.sans.upns ? { upns: x.sans.upns } : {}),
    ...(x.sans.ipAddresses ? { ipAddresses: x.sans.ipAddresses } : {}),
    ...(x.sans.uris ? { uris: x.sans.uris } : {}),
  };
  return {
    ...(k ? { key: { kty: k.kty, keySize: k.key_size, crv: k.crv, exportable: k.exportable, reuseKey: k.reuse_key } } : {}),
    ...(body.secret_props ? { secret: { contentType: body.secret_props.contentType } } : {}),
    ...(x ? { x509: { subject: x.subject, sans, ekus: x.ekus, keyUsage: x.key_usage, validityMonths: x.validity_months } } : {}),
    ...(body.lifetime_actions
      ? {
          actions: body.lifetime_actions.map((a): CertificateLifetimeAction => ({
            trigger: { lifetimePercentage: a.trigger?.lifetime_percentage, daysBeforeExpiry: a.trigger?.days_before_expiry },
            action: a.action?.action_type as CertificateLifetimeAction["action"],
          })),
        }
      : {}),
    ...(body.issuer
      ? { issuer: { name: body.issuer.name, certificateType: body.issuer.cty, certificateTransparency: body.issuer.cert_transparency } }
      : {}),
    ...(body.attributes?.enabled !== undefined ? { enabled: body.attributes.enabled } : {}),
  };
}

function policyWire(origin: string, name: string, p: CertificatePolicy) {
  const { sans } = p.x509;
  return {
    id: `${objectId(origin, "certificates", name)}/policy`,
    key_props: {
      exportable: p.key.exportable,
      kty: p.key.kty,
      ...(p.key.keySize ? { key_size: p.key.keySize } : {}),
      reuse_key: p.key.reuseKey,
      ...(p.key.crv ? { crv: p.key.crv } : {}),
    },
    secret_props: { contentType: p.secret.contentType },
    x509_props: {
      subject: p.x509.subject,
      sans: {
        ...(sans.emails ? { emails: sans.emails } : {}),
        ...(sans.dnsNames ? { dns_names: sans.dnsNames } : {}),
        ...(sans.upns ? { upns: sans.upns } : {}),
        ...(sans.ipAddresses ? { ipAddresses: sans.ipAddresses } : {}),
        ...(sans.uris ? { uris: sans.uris } : {}),
      },
      ekus: p.x509.ekus,
      key_usage: p.x509.keyUsage,
      validity_months: p.x509.validityMonths,
    },
    lifetime_actions: p.actions.map((a) => ({
      trigger: {
        ...(a.trigger.lifetimePercentage !== undefined ? { lifetime_percentage: a.trigger.lifetimePercentage } : {}),
        ...(a.trigger.daysBeforeExpiry !== undefined ? { days_before_expiry: a.trigger.daysBeforeExpiry } : {}),
      },
      action: { action_type: a.action },
    })),
    issuer: {
      name: p.issuer.name,
      ...(p.issuer.certificateType ? { cty: p.issuer.certificateType } : {}),
      ...(p.issuer.certificateTransparency !== undefined ? { cert_transparency: p.issuer.certificateTransparency } : {}),
    },
    attributes: { enabled: p.enabled, created: p.created, updated: p.updated },
  };
}

function certificateItem(origin: string, vault: Vault, v: CertificateVersion, versioned: boolean) {
  return {
    id: objectId(origin, "certificates", v.object.displayName, versioned ? v.version : undefined),
    x5t: thumbprintOf(v.props.cer).toString("base64url"),
    attributes: attributesOf(v, vault),
    ...(v.tags ? { tags: v.tags } : {}),
  };
}

/** A certificate bundle: the certificate, its backing key and secret ids, and its policy. */
function certificateBundle(origin: string, vault: Vault, v: CertificateVersion) {
  const name = v.object.displayName;
  return {
    ...certificateItem(origin, vault, v, true),
    kid: objectId(origin, "keys", name, v.version),
    sid: objectId(origin, "secrets", name, v.version),
    cer: v.props.cer,
    ...(v.object.policy ? { policy: policyWire(origin, name, v.object.policy) } : {}),
  };
}

/** A certificate in a list whose first version still waits: its id and attributes, no thumbprint yet. */
function pendingItem(origin: string, p: PendingCertificate) {
  return {
    id: objectId(origin, "certificates", p.name),
    attributes: { enabled: p.enabled, created: p.policy.created, updated: p.policy.updated },
    ...(p.tags ? { tags: p.tags } : {}),
  };
}

function pendingBundle(origin: string, p: PendingCertificate) {
  return {
    id: objectId(origin, "certificates", p.name, p.version),
    kid: objectId(origin, "keys", p.name, p.version),
    sid: objectId(origin, "secrets", p.name, p.version),
    attributes: { enabled: p.enabled, created: p.policy.created, updated: p.policy.updated },
    ...(p.tags ? { tags: p.tags } : {}),
    policy: policyWire(origin, p.name, p.policy),
  };
}

function operationWire(origin: string, op: CertificateOperation) {
  return {
    id: `${objectId(origin, "certificates", op.name)}/pending`,
    issuer: { name: op.issuer },
    ...(op.csr ? { csr: op.csr } : {}),
    cancellation_requested: op.cancellationRequested,
    status: op.status,
    ...(op.statusDetails ? { status_details: op.statusDetails } : {}),
    ...(op.error ? { error: { code: op.error.code, message: op.error.message } } : {}),
    target: objectId(origin, "certificates", op.name),
    request_id: op.requestId,
  };
}

/** Certificates travel in base64 (x5c, as the SDK and RFC 7517 write it), url-safe or not. */
function fromBase64(value: string, what: string): Buffer {
  const bytes = base64Bytes(value);
  if (!bytes) throw badParameter(`${what} is not valid base64.`);
  return bytes;
}

type Params = { name: string; version?: string };
const params = (req: FastifyRequest) => req.params as Params;

/** The certificates part of the Key Vault data plane. Handlers map HTTP to CertificateService and back. */
export function certificateRoutes(app: FastifyInstance, certificates: CertificateService): void {
  vaultRoute(app, "GET", "/certificates", "CertificateList", {}, async (req) => {
    const query = req.query as Record<string, unknown>;
    const { limit, cursor } = pageRequest(query);
    const includePending = booleanQuery(query.includePending, "includePending");
    const page = await certificates.list(req.vault, limit, cursor, includePending);
    const item = (v: (typeof page.items)[number]) =>
      "pending" in v ? pendingItem(req.origin, v.pending) : certificateItem(req.origin, req.vault, v, false);
    return listBody(req, page, limit, item, includePending ? { includePending: "true" } : {});
  });

  vaultRoute(app, "POST", "/certificates/:name/create", "CertificateCreate", { body: createSchema }, async (req, reply) => {
    const body = (req.body ?? {}) as { policy?: PolicyBody; attributes?: AttributesBody; tags?: Record<string, string> };
    const issued = await certificates.create(req.vault, params(req).name, {
      ...(body.policy ? { policy: policyInput(body.policy) } : {}),
      enabled: body.attributes?.enabled,
      tags: body.tags,
    });
    return reply.code(202).send(operationWire(req.origin, issued.operation));
  });

  vaultRoute(app, "POST", "/certificates/:name/import", "CertificateImport", { body: importSchema }, async (req) => {
    const body = req.body as {
      value: string;
      pwd?: string;
      policy?: PolicyBody;
      attributes?: AttributesBody;
      tags?: Record<string, string>;
    };
    const v = await certificates.import(req.vault, params(req).name, {
      value: body.value,
      password: body.pwd,
      ...(body.policy ? { policy: policyInput(body.policy) } : {}),
      enabled: body.attributes?.enabled,
      tags: body.tags,
    });
    return certificateBundle(req.origin, req.vault, v);
  });

  vaultRoute(app, "GET", "/certificates/:name/pending", "CertificatePendingGet", {}, async (req) =>
    operationWire(req.origin, await certificates.operation(req.vault, params(req).name)),
  );

  vaultRoute(app, "PATCH", "/certificates/:name/pending", "CertificatePendingUpdate", { body: pendingUpdateSchema }, async (req) => {
    const { name } = params(req);
    const cancel = (req.body as { cancellation_requested: boolean }).cancellation_requested;
    return operationWire(req.origin, cancel ? await certificates.cancel(req.vault, name) : await certificates.operation(req.vault, name));
  });

  vaultRoute(app, "DELETE", "/certificates/:name/pending", "CertificatePendingDelete", {}, async (req) =>
    operationWire(req.origin, await certificates.deleteOperation(req.vault, params(req).name)),
  );

  vaultRoute(app, "POST", "/certificates/:name/pending/merge", "CertificatePendingMerge", { body: mergeSchema }, async (req, reply) => {
    const body = req.body as { x5c: string[]; attributes?: AttributesBody; tags?: Record<string, string> };
    const chain = body.x5c.map((c, i) => fromBase64(c, `x5c[${i}]`));
    const v = await certificates.merge(req.vault, params(req).name, chain, { enabled: body.attributes?.enabled, tags: body.tags });
    return reply.code(201).send(certificateBundle(req.origin, req.vault, v));
  });

  vaultRoute(app, "GET", "/certificates/:name/policy", "CertificatePolicyGet", {}, async (req) => {
    const { displayName, policy } = await certificates.getPolicy(req.vault, params(req).name);
    return policyWire(req.origin, displayName, policy);
  });

  vaultRoute(app, "PATCH", "/certificates/:name/policy", "CertificatePolicyUpdate", { body: policySchema }, async (req) => {
    const policy = await certificates.updatePolicy(req.vault, params(req).name, policyInput((req.body ?? {}) as PolicyBody));
    const { displayName } = await certificates.getPolicy(req.vault, params(req).name);
    return policyWire(req.origin, displayName, policy);
  });

  vaultRoute(app, "GET", "/certificates/:name/{version}", "CertificateGet", {}, async (req) => {
    const found = await certificates.getOrPending(req.vault, params(req).name, params(req).version);
    return "pending" in found ? pendingBundle(req.origin, found.pending) : certificateBundle(req.origin, req.vault, found);
  });

  vaultRoute(app, "PATCH", "/certificates/:name/{version}", "CertificateUpdate", { body: updateSchema }, async (req) => {
    const body = (req.body ?? {}) as { attributes?: AttributesBody; tags?: Record<string, string> };
    const v = await certificates.update(req.vault, params(req).name, params(req).version, {
      tags: body.tags,
      enabled: body.attributes?.enabled,
    });
    return certificateBundle(req.origin, req.vault, v);
  });

  objectRoutes(
    app,
    certificates.objects,
    { bundle: certificateBundle, item: certificateItem },
    {
      delete: (vault, name) => certificates.delete(vault, name),
      recover: (vault, name) => certificates.recover(vault, name),
      purge: (vault, name) => certificates.purge(vault, name),
      backup: (vault, name) => certificates.backup(vault, name),
      restore: (vault, blob) => certificates.restore(vault, blob),
      list: "own",
    },
  );
}
