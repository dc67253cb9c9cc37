/** Whether a JSON value is an object (not null, not an array): the first check of any stored shape. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A stored string field, or undefined when it is absent or not a string. */
export function stringField(record: Record<string, unknown>, name: string): string | undefined {
  const value = record[name];
  return typeof value === "string" ? value : undefined;
}

/** What a stored record that is not in the shape Lockbox wrote is: the store was changed beneath it. */
export const storedShapeError = (what: string): Error => new Error(`a stored ${what} is not in the shape Lockbox writes it in`);

/** The members of `o` that are not undefined (so a spread of them leaves the others as they were). */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
