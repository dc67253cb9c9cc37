import { useEffect, useState } from "preact/hooks";

/** The console's pages live under this path; the server answers every one of them with the same page. */
export const BASE = "/console";

const listeners = new Set<() => void>();

/** The current path below BASE ("/", "/vaults/x/secrets") and its query. */
export function currentPath(): { path: string; query: URLSearchParams } {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  return { path: p || "/", query: new URLSearchParams(location.search) };
}

export function navigate(to: string, replace = false): void {
  const url = `${BASE}${to}`;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  window.scrollTo(0, 0);
  for (const l of listeners) l();
}

window.addEventListener("popstate", () => {
  for (const l of listeners) l();
});

/** Re-renders the caller when the path changes. */
export function useRoute(): { path: string; query: URLSearchParams } {
  const [, bump] = useState(0);
  useEffect(() => {
    const l = () => bump((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return currentPath();
}

/** Matches "/vaults/:vault/secrets/:name" against a path; the parameters, decoded, or undefined. */
export function match(pattern: string, path: string): Record<string, string> | undefined {
  const a = pattern.split("/").filter(Boolean);
  const b = path.split("/").filter(Boolean);
  if (a.length !== b.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.startsWith(":")) params[x.slice(1)] = decodeURIComponent(y);
    else if (x !== y) return undefined;
  }
  return params;
}

/** A path segment, encoded. */
export const seg = (s: string): string => encodeURIComponent(s);
