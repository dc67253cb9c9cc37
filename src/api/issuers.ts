import type { FastifyInstance, FastifyRequest } from "fastify";
import { pageRequest } from "../http/paging.ts";
import type { CertificateSettings, Contact, Issuer, IssuerInput } from "../vault/issuers.ts";
import { vaultRoute } from "./context.ts";
import { listBody, objectId } from "./wire.ts";

/** An issuer as the wire spells it (certificates.json's IssuerBundle); never its password. */
interface IssuerBody {
  provider?: string;
  credentials?: { account_id?: string; pwd?: string };
  org_details?: { id?: string; admin_details?: Array<{ first_name?: string; last_name?: string; email?: string; phone?: string }> };
  attributes?: { enabled?: boolean };
}

const contactSchema = {
  type: "object",
  properties: { email: { type: "string" }, name: { type: "string" }, phone: { type: "string" } },
} as const;
const contactsSchema = {
  type: "object",
  required: ["contacts"],
  properties: { contacts: { type: "array", items: contactSchema } },
} as const;
const issuerSchema = {
  type: "object",
  properties: {
    provider: { type: "string" },
    credentials: { type: "object", properties: { account_id: { type: "string" }, pwd: { type: "string" } } },
    org_details: {
      type: "object",
      properties: {
        id: { type: "string" },
        admin_details: {
          type: "array",
          items: {
            type: "object",
            properties: {
              first_name: { type: "string" },
              last_name: { type: "string" },
              email: { type: "string" },
              phone: { type: "string" },
            },
          },
        },
      },
    },
    attributes: { type: "object", properties: { enabled: { type: "boolean" } } },
  },
} as const;

function issuerInput(b: IssuerBody): IssuerInput {
  return {
    provider: b.provider,
    ...(b.credentials ? { credentials: { accountId: b.credentials.account_id, password: b.credentials.pwd } } : {}),
    ...(b.org_details
      ? {
          organization: {
            id: b.org_details.id,
            admins: (b.org_details.admin_details ?? []).map((a) => ({
              firstName: a.first_name,
              lastName: a.last_name,
              email: a.email,
              phone: a.phone,
            })),
          },
        }
      : {}),
    enabled: b.attributes?.enabled,
  };
}

const issuerId = (origin: string, name: string): string => `${objectId(origin, "certificates", "issuers")}/${name}`;

function issuerWire(origin: string, i: Issuer) {
  return {
    id: issuerId(origin, i.name),
    provider: i.provider,
    ...(i.credentials ? { credentials: { ...(i.credentials.accountId ? { account_id: i.credentials.accountId } : {}) } } : {}),
    ...(i.organization
      ? {
          org_details: {
            ...(i.organization.id ? { id: i.organization.id } : {}),
            admin_details: i.organization.admins.map((a) => ({
              first_name: a.firstName,
              last_name: a.lastName,
              email: a.email,
              phone: a.phone,
            })),
          },
        }
      : {}),
    attributes: { enabled: i.enabled, created: i.created, updated: i.updated },
  };
}

const contactsWire = (origin: string, contacts: Contact[]) => ({ id: objectId(origin, "certificates", "contacts"), contacts });
const issuerName = (req: FastifyRequest): string => (req.params as { issuer: string }).issuer;

/** A vault's certificate contacts and issuers. */
export function issuerRoutes(app: FastifyInstance, settings: CertificateSettings): void {
  vaultRoute(app, "PUT", "/certificates/contacts", "CertificateContactsSet", { body: contactsSchema }, async (req) =>
    contactsWire(req.origin, await settings.setContacts(req.vault, (req.body as { contacts: Contact[] }).contacts)),
  );
  vaultRoute(app, "GET", "/certificates/contacts", "CertificateContactsGet", {}, async (req) =>
    contactsWire(req.origin, await settings.getContacts(req.vault)),
  );
  vaultRoute(app, "DELETE", "/certificates/contacts", "CertificateContactsDelete", {}, async (req) =>
    contactsWire(req.origin, await settings.deleteContacts(req.vault)),
  );

  vaultRoute(app, "PUT", "/certificates/issuers/:issuer", "CertificateIssuerSet", { body: issuerSchema }, async (req) =>
    issuerWire(req.origin, await settings.setIssuer(req.vault, issuerName(req), issuerInput(req.body as IssuerBody))),
  );
  vaultRoute(app, "PATCH", "/certificates/issuers/:issuer", "CertificateIssuerUpdate", { body: issuerSchema }, async (req) =>
    issuerWire(req.origin, await settings.updateIssuer(req.vault, issuerName(req), issuerInput((req.body ?? {}) as IssuerBody))),
  );
  vaultRoute(app, "GET", "/certificates/issuers/:issuer", "CertificateIssuerGet", {}, async (req) =>
    issuerWire(req.origin, await settings.getIssuer(req.vault, issuerName(req))),
  );
  vaultRoute(app, "DELETE", "/certificates/issuers/:issuer", "CertificateIssuerDelete", {}, async (req) =>
    issuerWire(req.origin, await settings.deleteIssuer(req.vault, issuerName(req))),
  );
  vaultRoute(app, "GET", "/certificates/issuers", "CertificateIssuersList", {}, async (req) => {
    const { limit, cursor } = pageRequest(req.query as Record<string, unknown>);
    const page = await settings.listIssuers(req.vault, limit, cursor);
    return listBody(req, page, limit, (i) => ({ id: issuerId(req.origin, i.name), provider: i.provider }));
  });
}
