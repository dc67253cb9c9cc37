import { badParameter } from "../kernel/errors.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A string that UTF-8 can hold as it is: no lone surrogate, which would be stored as U+FFFD. */
const wellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * A JSON request body, read so that what is stored is exactly what was sent: bytes that are
 * not UTF-8, and strings with a lone surrogate (`"\ud800"`), are refused rather than turned
 * into U+FFFD. An empty body is no body (the SDK posts recover and backup with none). The
 * messages are fixed: a parser's message can quote the body, which may hold a secret value.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw badParameter("The request body is not valid UTF-8.");
  }
  let parsed: unknown;
  let malformed = false;
  try {
    parsed = JSON.parse(text, (key, value) => {
      if (!wellFormed(key) || (typeof value === "string" && !wellFormed(value))) malformed = true;
      return value;
    });
  } catch {
    throw badParameter("The request body is not valid JSON.");
  }
  if (malformed)
    throw badParameter(
      "The request body holds a string that is not valid Unicode (a lone surrogate such as \\ud800); it cannot be stored exactly as sent.",
    );
  return parsed;
}
