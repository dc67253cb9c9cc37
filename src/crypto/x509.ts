// X.509 certificates and PKCS#10 requests for Key Vault certificates. @peculiar/x509 encodes the
// extensions; the TBSCertificate and CertificationRequestInfo are built from the @peculiar/asn1-*
// schema classes and signed with node:crypto, which (unlike WebCrypto) also has secp256k1.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  Attribute,
  Certificate,
  DirectoryString,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  KeyUsage,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from "@peculiar/asn1-x509";
import { Attributes, CertificationRequest, CertificationRequestInfo } from "@peculiar/asn1-csr";
import { ExtensionRequest, id_pkcs9_at_extensionRequest } from "@peculiar/asn1-pkcs9";
import { id_sha256WithRSAEncryption } from "@peculiar/asn1-rsa";
import { ecdsaWithSHA256, ecdsaWithSHA384, ecdsaWithSHA512 } from "@peculiar/asn1-ecc";
import { X509Certificate, createHash, createPublicKey, randomBytes, sign, type KeyObject } from "node:crypto";
import { isIP } from "node:net";

/** The subject alternative names of a certificate, by kind. */
export interface SubjectAlternativeNames {
  dnsNames?: string[];
  emails?: string[];
  /** User principal names: otherName 1.3.6.1.4.1.311.20.2.3, a UTF8String. */
  upns?: string[];
  ipAddresses?: string[];
  uris?: string[];
}

/** What a certificate (or a request) is to say, in Key Vault's terms. */
export interface CertificateTemplate {
  /** X.500 as Key Vault writes it: "CN=www.contoso.com, O=Contoso"; "" for an empty name. */
  subject: string;
  sans?: SubjectAlternativeNames;
  /** Key Vault's key usage names: digitalSignature, keyEncipherment, keyCertSign, ... */
  keyUsage?: string[];
  /** Extended key usages, as OIDs. */
  ekus?: string[];
  notBefore: Date;
  /** notAfter is notBefore plus this many calendar months. */
  validityMonths: number;
  /** basicConstraints cA; false unless given. */
  ca?: boolean;
}

/** A template the certificate cannot be made from (bad subject, IP address, ...): the caller's 400. */
export class TemplateError extends Error {
  override name = "TemplateError";
}

/** What a certificate says, for the API layer. */
export interface CertificateFacts {
  /** In Key Vault's style, "CN=x, O=y", in the certificate's order. */
  subject: string;
  issuer: string;
  sans: SubjectAlternativeNames;
  notBefore: Date;
  notAfter: Date;
  /** Lower-case hex. */
  serialNumber: string;
  /** SHA-1 of the DER. */
  x5t: Buffer;
  publicKey: KeyObject;
  keyUsage: string[];
  ekus: string[];
  /** Issued by its own key: its issuer is its subject and its signature verifies with its public key. */
  selfSigned: boolean;
}

// ---- Names --------------------------------------------------------------------------------------

const OID = { C: "2.5.4.6", E: "1.2.840.113549.1.9.1", DC: "0.9.2342.19200300.100.1.25", ST: "2.5.4.8" } as const;

/** Attribute types by label; the first label of an OID is the one written back. */
const NAME_TYPES: [label: string, oid: string][] = [
  ["CN", "2.5.4.3"],
  ["O", "2.5.4.10"],
  ["OU", "2.5.4.11"],
  ["L", "2.5.4.7"],
  ["S", OID.ST],
  ["ST", OID.ST],
  ["C", OID.C],
  ["E", OID.E],
  ["DC", OID.DC],
  ["STREET", "2.5.4.9"],
  ["SERIALNUMBER", "2.5.4.5"],
  ["SN", "2.5.4.4"],
  ["G", "2.5.4.42"],
  ["T", "2.5.4.12"],
];
const OID_BY_LABEL = new Map(NAME_TYPES);
const LABEL_BY_OID = new Map([...NAME_TYPES].reverse().map(([label, oid]) => [oid, label]));

/** One "TYPE=value" and what follows it: a comma, or the end. A quoted value may hold commas ("" is a quote). */
const NAME_PART = /\s*((?:OID\.)?\d+(?:\.\d+)+|[A-Za-z]+)\s*=\s*(?:"((?:[^"]|"")*)"|([^,"]*?))\s*(,|$)/iy;

/** An X.500 name from Key Vault's string form: "CN=a, O=b", commas with or without spaces. */
function parseName(subject: string): Name {
  const name = new Name();
  if (subject.trim() === "") return name;
  NAME_PART.lastIndex = 0;
  for (;;) {
    const at = NAME_PART.lastIndex;
    const match = NAME_PART.exec(subject);
    if (!match) throw new TemplateError(`The subject "${subject}" is not of the form "CN=name, O=organization" at "${subject.slice(at)}".`);
    const [, label, quoted, plain, separator] = match;
    name.push(new RelativeDistinguishedName([attribute(label!, quoted === undefined ? plain! : quoted.replace(/""/g, '"'))]));
    if (separator === "") return name;
    if (NAME_PART.lastIndex === subject.length) throw new TemplateError(`The subject "${subject}" ends with a comma.`);
  }
}

function attribute(label: string, value: string): AttributeTypeAndValue {
  const type = /^(?:OID\.)?(\d+(?:\.\d+)+)$/i.exec(label)?.[1] ?? OID_BY_LABEL.get(label.toUpperCase());
  if (!type) throw new TemplateError(`The subject's attribute type "${label}" is not known.`);
  if (value === "") throw new TemplateError(`The subject's ${label} is empty.`);
  return new AttributeTypeAndValue({ type, value: attributeValue(label, type, value) });
}

/** The string type each attribute is written in: PrintableString where it can be, else UTF8String. */
function attributeValue(label: string, type: string, value: string): AttributeValue {
  if (type === OID.C) {
    if (!/^[A-Za-z]{2}$/.test(value)) throw new TemplateError(`The subject's ${label} must be a two-letter country code, not "${value}".`);
    return new AttributeValue({ printableString: value });
  }
  if (type === OID.E || type === OID.DC) {
    if (!isAscii(value)) throw new TemplateError(`The subject's ${label} must be ASCII.`);
    return new AttributeValue({ ia5String: value });
  }
  return new AttributeValue(x509.Name.isPrintableString(value) ? { printableString: value } : { utf8String: value });
}

const isAscii = (text: string): boolean => /^[\x20-\x7e]*$/.test(text);

/** A name as Key Vault writes it: "CN=a, O=b", values quoted when they hold a comma or the like. */
function formatName(name: Name): string {
  const quote = (v: string): string => (/[,"+;<>#=\n\r]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return name.map((rdn) => rdn.map((a) => `${LABEL_BY_OID.get(a.type) ?? a.type}=${quote(a.value.toString())}`).join("+")).join(", ");
}

// ---- Extensions ---------------------------------------------------------------------------------

/** Key Vault's key usage names, in the KeyUsage bit order. */
export const KEY_USAGES = [
  "digitalSignature",
  "nonRepudiation",
  "keyEncipherment",
  "dataEncipherment",
  "keyAgreement",
  "keyCertSign",
  "cRLSign",
  "encipherOnly",
  "decipherOnly",
] as const;
type KeyUsageName = (typeof KEY_USAGES)[number];

function keyUsageFlags(names: string[]): x509.KeyUsageFlags {
  let flags = 0;
  for (const name of names) {
    if (!(KEY_USAGES as readonly string[]).includes(name)) throw new TemplateError(`The key usage "${name}" is not known.`);
    flags |= x509.KeyUsageFlags[name as KeyUsageName];
  }
  return flags;
}

function ekuOid(oid: string): string {
  if (!/^[0-2](\.\d+)+$/.test(oid)) throw new TemplateError(`The extended key usage "${oid}" is not an OID.`);
  return oid;
}

/** An IP address as @peculiar/x509 encodes it: IPv6 in its canonical form (which also turns a trailing IPv4 into hex). */
function ipAddress(text: string): string {
  const version = isIP(text);
  if (version === 4) return text;
  if (version === 6 && URL.canParse(`http://[${text}]`)) return new URL(`http://[${text}]`).hostname.slice(1, -1);
  throw new TemplateError(`"${text}" is not an IP address.`);
}

function checked(kind: string, value: string, valid: boolean): string {
  if (!valid) throw new TemplateError(`"${value}" is not a valid ${kind}.`);
  return value;
}

function generalNames(sans: SubjectAlternativeNames): x509.JsonGeneralNames {
  return [
    ...(sans.dnsNames ?? []).map((v) => ({ type: "dns" as const, value: checked("DNS name", v, /^[\x21-\x7e]+$/.test(v)) })),
    ...(sans.emails ?? []).map((v) => ({
      type: "email" as const,
      value: checked("email address", v, /^[\x21-\x7e]+@[\x21-\x7e]+$/.test(v)),
    })),
    ...(sans.upns ?? []).map((v) => ({ type: "upn" as const, value: checked("user principal name", v, v.trim() !== "") })),
    ...(sans.ipAddresses ?? []).map((v) => ({ type: "ip" as const, value: ipAddress(v) })),
    ...(sans.uris ?? []).map((v) => ({ type: "url" as const, value: checked("URI", v, isAscii(v) && URL.canParse(v)) })),
  ];
}

/** The extensions a request asks for: subject alternative names (critical with an empty subject), key usage, EKUs. */
function requestedExtensions(template: Omit<CertificateTemplate, "notBefore" | "validityMonths">, subject: Name): x509.Extension[] {
  const extensions: x509.Extension[] = [];
  const names = generalNames(template.sans ?? {});
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names, subject.length === 0));
  if (template.keyUsage?.length) extensions.push(new x509.KeyUsagesExtension(keyUsageFlags(template.keyUsage), true));
  if (template.ekus?.length) extensions.push(new x509.ExtendedKeyUsageExtension(template.ekus.map(ekuOid), false));
  return extensions;
}

const asnExtensions = (extensions: x509.Extension[]): Extensions =>
  new Extensions(extensions.map((e) => AsnConvert.parse(e.rawData, Extension)));

// ---- Keys and signatures ------------------------------------------------------------------------

const spkiOf = (key: KeyObject): SubjectPublicKeyInfo =>
  AsnConvert.parse((key.type === "public" ? key : createPublicKey(key)).export({ format: "der", type: "spki" }), SubjectPublicKeyInfo);

/** RFC 5280's key identifier: SHA-1 of the subjectPublicKey bits. */
const keyIdentifier = (spki: SubjectPublicKeyInfo): string => createHash("sha1").update(Buffer.from(spki.subjectPublicKey)).digest("hex");

const EC_SIGNATURES: Record<string, { algorithm: AlgorithmIdentifier; hash: string }> = {
  prime256v1: { algorithm: ecdsaWithSHA256, hash: "sha256" },
  secp256k1: { algorithm: ecdsaWithSHA256, hash: "sha256" },
  secp384r1: { algorithm: ecdsaWithSHA384, hash: "sha384" },
  secp521r1: { algorithm: ecdsaWithSHA512, hash: "sha512" },
};

/** How a key signs: RSA with PKCS#1 v1.5 SHA-256, ECDSA with the curve's hash. */
function signatureAlgorithm(key: KeyObject): { algorithm: AlgorithmIdentifier; hash: string } {
  if (key.asymmetricKeyType === "rsa")
    return { algorithm: new AlgorithmIdentifier({ algorithm: id_sha256WithRSAEncryption, parameters: null }), hash: "sha256" };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const ec = key.asymmetricKeyType === "ec" && curve ? EC_SIGNATURES[curve] : undefined;
  if (!ec) throw new TypeError(`Cannot sign with this key: ${key.asymmetricKeyType} ${curve ?? ""}`.trimEnd());
  return ec;
}

/** The DER signature of `data` (ECDSA as the DER SEQUENCE X.509 wants). */
const signWith = (key: KeyObject, hash: string, data: ArrayBuffer): ArrayBuffer =>
  new Uint8Array(sign(hash, Buffer.from(data), { key, dsaEncoding: "der" })).buffer;

// ---- Certificates -------------------------------------------------------------------------------

/** A random positive 16-byte serial number, its first byte non-zero (so its DER is 16 bytes). */
function serialNumber(): ArrayBuffer {
  for (;;) {
    const serial = randomBytes(16);
    serial[0] = serial[0]! & 0x7f;
    if (serial[0] !== 0) return new Uint8Array(serial).buffer;
  }
}

/** The date `months` calendar months after `date`, on the month's last day when it has no such day (Jan 31 + 1 = Feb 28/29). */
function addMonths(date: Date, months: number): Date {
  const result = new Date(date.getTime());
  const day = result.getUTCDate();
  result.setUTCDate(1);
  result.setUTCMonth(result.getUTCMonth() + months);
  const lastDay = new Date(Date.UTC(result.getUTCFullYear(), result.getUTCMonth() + 1, 0)).getUTCDate();
  result.setUTCDate(Math.min(day, lastDay));
  return result;
}

function validity(template: CertificateTemplate): Validity {
  if (Number.isNaN(template.notBefore.getTime())) throw new TemplateError("notBefore is not a date.");
  if (!Number.isInteger(template.validityMonths) || template.validityMonths < 1)
    throw new TemplateError(`The validity must be a whole number of months, at least 1, not ${template.validityMonths}.`);
  return new Validity({ notBefore: template.notBefore, notAfter: addMonths(template.notBefore, template.validityMonths) });
}

interface Signer {
  name: Name;
  key: KeyObject;
  keyId: string;
}

/** The certificate (DER) of `template` for the public key `spki`, signed by `issuer`. */
function certificate(template: CertificateTemplate, spki: SubjectPublicKeyInfo, issuer: Signer): Buffer {
  const subject = parseName(template.subject);
  const { algorithm, hash } = signatureAlgorithm(issuer.key);
  const extensions = [
    new x509.BasicConstraintsExtension(template.ca ?? false, undefined, true),
    ...requestedExtensions(template, subject),
    new x509.SubjectKeyIdentifierExtension(keyIdentifier(spki)),
    new x509.AuthorityKeyIdentifierExtension(issuer.keyId),
  ];
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    signature: algorithm,
    issuer: issuer.name,
    validity: validity(template),
    subject,
    subjectPublicKeyInfo: spki,
    extensions: asnExtensions(extensions),
  });
  const signatureValue = signWith(issuer.key, hash, AsnConvert.serialize(tbsCertificate));
  return Buffer.from(AsnConvert.serialize(new Certificate({ tbsCertificate, signatureAlgorithm: algorithm, signatureValue })));
}

/**
 * A self-signed certificate (DER) of `key`, a private KeyObject: RSA (signed sha256WithRSAEncryption),
 * or EC on P-256, P-384, P-521 or secp256k1 (ECDSA with SHA-256, SHA-384, SHA-512, SHA-256).
 * @throws TemplateError when the template is not valid.
 */
export async function selfSigned(template: CertificateTemplate, key: KeyObject): Promise<Buffer> {
  const spki = spkiOf(key);
  return certificate(template, spki, { name: parseName(template.subject), key, keyId: keyIdentifier(spki) });
}

/**
 * A certificate (DER) for `subjectPublicKey`, signed by the issuer's key: its issuer is the issuer
 * certificate's subject and its authority key identifier that certificate's subject key identifier.
 * @throws TemplateError when the template is not valid; Error when the issuer's key is not its certificate's.
 */
export async function issue(
  template: CertificateTemplate,
  subjectPublicKey: KeyObject,
  issuer: { certificate: Buffer; key: KeyObject },
): Promise<Buffer> {
  if (!new X509Certificate(issuer.certificate).checkPrivateKey(issuer.key))
    throw new Error("The issuer's key is not its certificate's key.");
  const { tbsCertificate } = AsnConvert.parse(issuer.certificate, Certificate);
  const ski = tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const keyId = ski
    ? Buffer.from(AsnConvert.parse(ski.extnValue, SubjectKeyIdentifier).buffer).toString("hex")
    : keyIdentifier(tbsCertificate.subjectPublicKeyInfo);
  return certificate(template, spkiOf(subjectPublicKey), { name: tbsCertificate.subject, key: issuer.key, keyId });
}

/**
 * A PKCS#10 certification request (DER) for `key` (a private KeyObject, as for selfSigned): the template's
 * subject, and its subject alternative names, key usage and EKUs as requested extensions.
 * @throws TemplateError when the template is not valid.
 */
export async function certificationRequest(
  template: Omit<CertificateTemplate, "notBefore" | "validityMonths">,
  key: KeyObject,
): Promise<Buffer> {
  const subject = parseName(template.subject);
  const extensions = requestedExtensions(template, subject);
  const attributes = new Attributes(
    extensions.length
      ? [
          new Attribute({
            type: id_pkcs9_at_extensionRequest,
            values: [AsnConvert.serialize(new ExtensionRequest(asnExtensions(extensions)))],
          }),
        ]
      : [],
  );
  const certificationRequestInfo = new CertificationRequestInfo({ subject, subjectPKInfo: spkiOf(key), attributes });
  const { algorithm, hash } = signatureAlgorithm(key);
  const signature = signWith(key, hash, AsnConvert.serialize(certificationRequestInfo));
  return Buffer.from(
    AsnConvert.serialize(new CertificationRequest({ certificationRequestInfo, signatureAlgorithm: algorithm, signature })),
  );
}

// ---- Reading ------------------------------------------------------------------------------------

const UPN = "1.3.6.1.4.1.311.20.2.3";

/** The names of a subjectAltName extension this module knows; others (directory names, GUIDs, ...) are left out. */
function sansOf(extension: Extension | undefined): SubjectAlternativeNames {
  const sans: Required<SubjectAlternativeNames> = { dnsNames: [], emails: [], upns: [], ipAddresses: [], uris: [] };
  for (const name of extension ? AsnConvert.parse(extension.extnValue, SubjectAlternativeName) : []) {
    if (name.dNSName !== undefined) sans.dnsNames.push(name.dNSName);
    else if (name.rfc822Name !== undefined) sans.emails.push(name.rfc822Name);
    else if (name.iPAddress !== undefined) sans.ipAddresses.push(name.iPAddress);
    else if (name.uniformResourceIdentifier !== undefined) sans.uris.push(name.uniformResourceIdentifier);
    else if (name.otherName?.typeId === UPN) sans.upns.push(AsnConvert.parse(name.otherName.value, DirectoryString).toString());
  }
  return Object.fromEntries(Object.entries(sans).filter(([, values]) => values.length)) as SubjectAlternativeNames;
}

const sameName = (a: Name, b: Name): boolean => Buffer.from(AsnConvert.serialize(a)).equals(Buffer.from(AsnConvert.serialize(b)));

/**
 * What a certificate (DER) says: names, validity, serial number, thumbprint, key, key usages.
 * @throws TemplateError when `der` is not an X.509 certificate this module can read.
 */
export function certificateFacts(der: Buffer): CertificateFacts {
  let tbs: TBSCertificate;
  let cert: X509Certificate;
  try {
    tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
    cert = new X509Certificate(der);
  } catch (error) {
    throw new TemplateError(`Not a DER X.509 certificate: ${(error as Error).message}`);
  }
  const extension = (id: string): Extension | undefined => tbs.extensions?.find((e) => e.extnID === id);
  const keyUsage = extension(id_ce_keyUsage);
  const flags = keyUsage ? AsnConvert.parse(keyUsage.extnValue, KeyUsage).toNumber() : 0;
  const ekus = extension(id_ce_extKeyUsage);
  return {
    subject: formatName(tbs.subject),
    issuer: formatName(tbs.issuer),
    sans: sansOf(extension(id_ce_subjectAltName)),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    serialNumber: Buffer.from(tbs.serialNumber).toString("hex"),
    x5t: createHash("sha1").update(der).digest(),
    publicKey: cert.publicKey,
    keyUsage: KEY_USAGES.filter((name) => flags & x509.KeyUsageFlags[name]),
    ekus: ekus ? [...AsnConvert.parse(ekus.extnValue, ExtendedKeyUsage)] : [],
    selfSigned: sameName(tbs.subject, tbs.issuer) && cert.verify(cert.publicKey),
  };
}
