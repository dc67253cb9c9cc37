import { randomInt } from "node:crypto";
import { badParameter } from "../kernel/errors.ts";

/** How a secret rotation policy makes the next value: random characters, or a rotator webhook. */
export type Generator = { type: "random"; length: number; classes: CharacterClass[] } | { type: "webhook"; url: string };

export type CharacterClass = "lower" | "upper" | "digits" | "symbols";

const ALPHABETS: Record<CharacterClass, string> = {
  lower: "abcdefghijklmnopqrstuvwxyz",
  upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  digits: "0123456789",
  symbols: "!#$%&()*+,-./:;<=>?@[]^_{|}~",
};
const CLASSES = Object.keys(ALPHABETS) as CharacterClass[];

export type RandomGenerator = Extract<Generator, { type: "random" }>;

export const DEFAULT_GENERATOR: RandomGenerator = { type: "random", length: 32, classes: [...CLASSES] };

export function validateGenerator(input: unknown): Generator {
  if (input === undefined || input === null) return DEFAULT_GENERATOR;
  const g = input as Record<string, unknown>;
  if (g.type === "webhook") {
    try {
      const url = new URL(String(g.url));
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error();
      return { type: "webhook", url: url.toString() };
    } catch {
      throw badParameter("A webhook generator needs an http or https url.");
    }
  }
  if (g.type !== undefined && g.type !== "random") throw badParameter("generator.type must be random or webhook.");
  const length = g.length === undefined ? 32 : Number(g.length);
  if (!Number.isInteger(length) || length < 8 || length > 4096)
    throw badParameter("generator.length must be a whole number from 8 to 4096.");
  const classes = g.classes === undefined ? [...CLASSES] : (g.classes as unknown[]);
  if (!Array.isArray(classes) || classes.length === 0 || classes.some((c) => !CLASSES.includes(c as CharacterClass))) {
    throw badParameter(`generator.classes must name some of: ${CLASSES.join(", ")}.`);
  }
  if (classes.length > length) throw badParameter("generator.length must leave room for one character of each class.");
  return { type: "random", length, classes: [...new Set(classes as CharacterClass[])] };
}

/** A random value with at least one character of every class asked for. */
export function randomValue(g: { length: number; classes: CharacterClass[] }): string {
  const pick = (alphabet: string): string => alphabet[randomInt(alphabet.length)]!;
  const all = g.classes.map((c) => ALPHABETS[c]).join("");
  const chars = g.classes.map((c) => pick(ALPHABETS[c]));
  while (chars.length < g.length) chars.push(pick(all));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join("");
}

/** What a rotator is told: the secret and the version being replaced. */
export interface RotationContext {
  vault: string;
  name: string;
  version: string;
}

/** The port to a secret rotator (webhooks/send.ts): the next value for a secret whose generator is a webhook. */
export type Rotator = (url: string, context: RotationContext) => Promise<string>;
