/**
 * The one error type of Lockbox. Thrown anywhere, rendered once (http/errors.ts) as
 * Azure's body: {"error":{"code","message","innererror"}}.
 * A message never carries a secret value or key material.
 */
export class KvError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
    this.name = "KvError";
  }

  toBody(): { error: { code: string; message: string; innererror?: { code: string } } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.innerCode ? { innererror: { code: this.innerCode } } : {}),
      },
    };
  }
}

export const badParameter = (message: string): KvError => new KvError(400, "BadParameter", message);

export const forbidden = (message: string, innerCode?: string): KvError => new KvError(403, "Forbidden", message, innerCode);

export const conflict = (message: string, innerCode?: string): KvError => new KvError(409, "Conflict", message, innerCode);

export const notFound = (code: string, message: string): KvError => new KvError(404, code, message);

/** The one wording of a vault that does not exist, wherever it is looked up. */
export const vaultNotFound = (name: string): KvError =>
  notFound("VaultNotFound", `The vault '${name}' does not exist on this Lockbox server. Create it with: lockbox vault create ${name}`);

/** Azure's message for a throttled request, word for word (as captured in dotnet/sign#403 and AzureSignTool#219). */
export const THROTTLED_MESSAGE = "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached";

/** Azure's answer to a throttled request: 429 Throttled. */
export const throttled = (): KvError => new KvError(429, "Throttled", THROTTLED_MESSAGE);
