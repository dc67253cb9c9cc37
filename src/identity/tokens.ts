import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type CryptoKey } from "jose";
import type { Keyring } from "../crypto/envelope.ts";
import { SealedSetting } from "../crypto/settings.ts";
import type { IdentityKind, IdentityRecord, Store } from "../store/store.ts";
import type { CacheObserver } from "../kernel/cache.ts";
import { nowSeconds, type Clock } from "../kernel/clock.ts";

export const TOKEN_LIFETIME_SECONDS = 3600;
const ALG = "ES256";
const SIGNING_KEY_META = "token_signing_key";
const SIGNING_KEY_AAD = "lockbox/v1/token-signing-key";
const MAX_CACHED = 10_000;

/** Who made a request, from a validated token. */
export interface Principal {
  objectId: string;
  clientId: string;
  name: string;
  tenantId: string;
  expires: number;
}

/** A token refused; `timing` when only its validity period is wrong (expired, not yet valid). */
export class TokenError extends Error {
  constructor(
    message: string,
    readonly timing = false,
  ) {
    super(message);
  }
}

/**
 * What clients are told about a token's lifetime. Normally its `exp`. Under a dev clock the
 * token's times follow the dev clock while clients (MSAL) count real time, so they are told
 * a short real lifetime: they come back for fresh tokens, and a token the moved clock has
 * expired gets a claims challenge (Key Vault's CAE answer) that makes them refresh at once.
 */
export interface ClientLifetime {
  clock: Clock;
  seconds: number;
}

/** Told of tokens issued and of lookups in the validated-token cache (the server counts them as metrics). */
export interface TokenObserver {
  issued?(kind: IdentityKind): void;
  cache?: CacheObserver;
}

interface Cached {
  principal: Principal;
  nbf: number;
  exp: number;
  /** Whether the audience is the vault's (tokens for Resource Manager are good only there). */
  forVault: boolean;
}

/**
 * Issues and validates the JWT access tokens of this instance, signed with its own ES256
 * key (kept in the store, sealed by the root key). Validated tokens are cached so the
 * signature check is done once per token, not once per request; time checks run every time.
 */
export class Tokens {
  private readonly cache = new Map<string, Cached>();

  private constructor(
    private readonly privateKey: CryptoKey,
    private readonly publicKey: CryptoKey,
    private readonly publicJwk: JWK,
    private readonly clock: Clock,
    readonly tenantId: string,
    private readonly audience: RegExp,
    private readonly clientLifetime: ClientLifetime | undefined,
    private readonly observer: TokenObserver,
  ) {}

  /** Loads the signing key from the store, creating it on first start. */
  static async load(
    store: Store,
    keyring: Keyring,
    clock: Clock,
    tenantId: string,
    resource: string,
    clientLifetime?: ClientLifetime,
    observer: TokenObserver = {},
  ): Promise<Tokens> {
    const setting = new SealedSetting(store, keyring, SIGNING_KEY_META, SIGNING_KEY_AAD);
    let stored = await setting.read();
    if (!stored) {
      const { privateKey } = await generateKeyPair(ALG, { extractable: true });
      stored = await setting.keep(Buffer.from(JSON.stringify(await exportJWK(privateKey))));
    }
    const privateJwk = JSON.parse(stored.toString("utf8")) as JWK;
    const { d: _d, ...publicPart } = privateJwk;
    const kid = await calculateJwkThumbprint(publicPart);
    const publicJwk: JWK = { ...publicPart, kid, use: "sig", alg: ALG };
    const privateKey = (await importJWK(privateJwk, ALG)) as CryptoKey;
    const publicKey = (await importJWK(publicJwk, ALG)) as CryptoKey;
    return new Tokens(privateKey, publicKey, publicJwk, clock, tenantId, audienceOf(resource), clientLifetime, observer);
  }

  get jwks(): { keys: JWK[] } {
    return { keys: [this.publicJwk] };
  }

  /**
   * The issuer named in tokens and in the OpenID configuration. MSAL requires the
   * configuration's issuer to be on the authority's own origin, so it follows the origin
   * the client called; the path names this instance's tenant.
   */
  issuerAt(origin: string): string {
    return `${origin}/${this.tenantId}/v2.0`;
  }

  /**
   * An access token for `identity` to use against `resource` (the token's audience), and the
   * time (epoch seconds) to tell the client it expires.
   */
  async issue(identity: IdentityRecord, resource: string, origin: string): Promise<{ token: string; expiresOn: number }> {
    const now = nowSeconds(this.clock);
    const exp = now + TOKEN_LIFETIME_SECONDS;
    const token = await new SignJWT({
      tid: this.tenantId,
      oid: identity.id,
      appid: identity.clientId,
      azp: identity.clientId,
      idtyp: "app",
      name: identity.name,
    })
      .setProtectedHeader({ alg: ALG, typ: "JWT", kid: this.publicJwk.kid! })
      .setIssuer(this.issuerAt(origin))
      .setAudience(resource)
      .setSubject(identity.id)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(exp)
      .sign(this.privateKey);
    const expiresOn = this.clientLifetime ? nowSeconds(this.clientLifetime.clock) + this.clientLifetime.seconds : exp;
    this.observer.issued?.(identity.kind);
    return { token, expiresOn };
  }

  /**
   * The principal a bearer token stands for; throws TokenError when it is not valid now, or
   * its audience is not the vault's (`anyAudience`: any audience of a token this instance
   * issued, for the Resource Manager endpoints az asks).
   */
  async validate(token: string, options: { anyAudience?: boolean } = {}): Promise<Principal> {
    const now = nowSeconds(this.clock);
    const checked = (entry: Cached): Principal => {
      if (now < entry.nbf) throw new TokenError("The token is not yet valid.", true);
      if (now >= entry.exp) throw new TokenError("The token is expired.", true);
      if (!entry.forVault && !options.anyAudience) throw new TokenError("The token's audience is not this vault.");
      return entry.principal;
    };
    const hit = this.cache.get(token);
    this.observer.cache?.("tokens", hit !== undefined);
    if (hit) return checked(hit);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.publicKey, {
        algorithms: [ALG],
        currentDate: new Date(this.clock.nowMs()),
        requiredClaims: ["iss", "exp", "nbf", "oid", "tid"],
        clockTolerance: 0,
      }));
    } catch (e) {
      const code = (e as { code?: string; claim?: string }).code;
      const timing =
        code === "ERR_JWT_EXPIRED" || (code === "ERR_JWT_CLAIM_VALIDATION_FAILED" && (e as { claim?: string }).claim === "nbf");
      throw new TokenError(describeJoseError(e), timing);
    }
    const aud = payload.aud;
    const forVault = (Array.isArray(aud) ? aud : [aud]).some((a) => typeof a === "string" && this.audience.test(a));
    const iss = String(payload.iss ?? "");
    if (!iss.startsWith("https://") || !iss.endsWith(`/${this.tenantId}/v2.0`) || iss.slice(8).split("/").length !== 3) {
      throw new TokenError("The token was not issued by this Lockbox instance.");
    }
    const principal: Principal = {
      objectId: String(payload.oid),
      clientId: String(payload.appid ?? payload.azp ?? ""),
      name: String(payload.name ?? ""),
      tenantId: String(payload.tid),
      expires: payload.exp!,
    };
    const entry: Cached = { principal, nbf: payload.nbf!, exp: payload.exp!, forVault };
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(token, entry);
    return checked(entry);
  }
}

/**
 * The audiences a vault accepts: its resource with or without a port (every process of an
 * instance, whatever port it listens on, takes the tokens of the others) and a trailing
 * slash, and Azure's own `https://vault.azure.net`.
 */
function audienceOf(resource: string): RegExp {
  const bare = resource.replace(/\/+$/, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^(?:${bare}(?::\\d{1,5})?|https://vault\\.azure\\.net)/?$`, "i");
}

function describeJoseError(e: unknown): string {
  const code = (e as { code?: string }).code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return "The token is expired.";
    case "ERR_JWT_CLAIM_VALIDATION_FAILED": {
      const claim = (e as { claim?: string }).claim;
      if (claim === "aud") return "The token's audience is not this vault.";
      if (claim === "iss") return "The token was not issued by this Lockbox instance.";
      if (claim === "nbf") return "The token is not yet valid.";
      return `The token's ${claim ?? "claims"} claim is invalid.`;
    }
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "The token's signature is invalid.";
    default:
      return "The token is malformed.";
  }
}
