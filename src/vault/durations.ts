import { badParameter } from "../kernel/errors.ts";

/**
 * ISO 8601 durations as Key Vault takes them in rotation policies: P90D, P3M, PT48H,
 * P1Y10D, P2W. Months count 30 days and years 365, as the service counts them.
 */
const DURATION = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

const DAY = 86_400;
const UNIT_SECONDS = [365 * DAY, 30 * DAY, 7 * DAY, DAY, 3600, 60, 1];

/** Seconds in an ISO 8601 duration; throws BadParameter naming `field` when it is not one. */
export function durationSeconds(text: unknown, field: string): number {
  const m = typeof text === "string" ? DURATION.exec(text) : null;
  if (!m) throw badParameter(`${field} must be an ISO 8601 duration such as P90D, P3M or P1Y; '${String(text)}' is not.`);
  return m.slice(1).reduce((sum, part, i) => sum + (part ? Number(part) * UNIT_SECONDS[i]! : 0), 0);
}

export const days = (n: number): number => n * DAY;
