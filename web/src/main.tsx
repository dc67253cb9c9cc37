import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { api, useSession, type Session, type VaultSummary } from "./api.ts";
import { ConsoleContext, useConsole } from "./context.ts";
import { AccessPage } from "./pages/access.tsx";
import { AuditPage } from "./pages/audit.tsx";
import { CertificatePage, CertificatesPage } from "./pages/certificates.tsx";
import { DevClock } from "./pages/clock.tsx";
import { EventsPage } from "./pages/events.tsx";
import { IdentitiesPage } from "./pages/identities.tsx";
import { KeyPage, KeysPage } from "./pages/keys.tsx";
import { SecretPage, SecretsPage } from "./pages/secrets.tsx";
import { SignIn } from "./pages/signin.tsx";
import { UpcomingPage } from "./pages/upcoming.tsx";
import { VaultSettings, VaultsPage } from "./pages/vaults.tsx";
import { match, navigate, seg, useRoute } from "./router.ts";
import { Button, Empty, Link, Loading, useLoad } from "./ui.tsx";

type Params = Record<string, string>;
const vaultPages: Array<[string, (p: Params) => preact.ComponentChildren]> = [
  ["/vaults/:vault/secrets", (p) => <SecretsPage vault={p.vault!} />],
  ["/vaults/:vault/secrets/:name", (p) => <SecretPage vault={p.vault!} name={p.name!} />],
  ["/vaults/:vault/keys", (p) => <KeysPage vault={p.vault!} />],
  ["/vaults/:vault/keys/:name", (p) => <KeyPage vault={p.vault!} name={p.name!} />],
  ["/vaults/:vault/certificates", (p) => <CertificatesPage vault={p.vault!} />],
  ["/vaults/:vault/certificates/:name", (p) => <CertificatePage vault={p.vault!} name={p.name!} />],
  ["/vaults/:vault/access", (p) => <AccessPage vault={p.vault!} />],
  ["/vaults/:vault/events", (p) => <EventsPage vault={p.vault!} />],
  ["/vaults/:vault/settings", (p) => <VaultSettings vault={p.vault!} />],
];
const pages: Array<[string, (p: Params) => preact.ComponentChildren]> = [
  ["/", () => <VaultsPage />],
  ["/identities", () => <IdentitiesPage />],
  ["/audit", () => <AuditPage />],
  ["/upcoming", () => <UpcomingPage />],
  ...vaultPages,
];

function Routed({ path }: { path: string }) {
  for (const [pattern, view] of pages) {
    const params = match(pattern, path);
    if (params) return <>{view(params)}</>;
  }
  const vault = match("/vaults/:vault", path);
  if (vault) {
    navigate(`/vaults/${seg(vault.vault!)}/secrets`, true);
    return null;
  }
  return (
    <Empty title="There is no such page.">
      <Link to="/">Go to the vaults</Link>
    </Empty>
  );
}

const VAULT_TABS: Array<[string, string]> = [
  ["secrets", "Secrets"],
  ["keys", "Keys"],
  ["certificates", "Certificates"],
  ["access", "Access"],
  ["events", "Events"],
  ["settings", "Settings"],
];

function Nav({ path, vaults }: { path: string; vaults: VaultSummary[] | undefined }) {
  const { session } = useConsole();
  // The vault of /vaults/VAULT, /vaults/VAULT/TAB and any page below it.
  const current = match("/vaults/:vault/:tab", path.split("/").slice(0, 4).join("/"))?.vault ?? match("/vaults/:vault", path)?.vault;
  const tab = path.split("/")[3];
  const admin = session.identity.admin;
  return (
    <nav class="nav" aria-label="Console">
      <div class="nav-group">
        <Link to="/" class={path === "/" ? "active" : ""} aria-current={path === "/" ? "page" : undefined}>
          Vaults
        </Link>
        {admin ? (
          <>
            <Link to="/upcoming" class={path === "/upcoming" ? "active" : ""}>
              Upcoming
            </Link>
            <Link to="/identities" class={path === "/identities" ? "active" : ""}>
              Identities
            </Link>
            <Link to="/audit" class={path === "/audit" ? "active" : ""}>
              Audit log
            </Link>
          </>
        ) : null}
      </div>
      {vaults && vaults.length ? (
        <div class="nav-group">
          <label class="nav-label" for="vault-switch">
            Vault
          </label>
          <select
            id="vault-switch"
            value={current ?? ""}
            onChange={(e) => {
              const v = (e.target as HTMLSelectElement).value;
              if (v) navigate(`/vaults/${seg(v)}/${tab && VAULT_TABS.some(([t]) => t === tab) ? tab : "secrets"}`);
            }}
          >
            <option value="" disabled>
              Choose a vault
            </option>
            {vaults.map((v) => (
              <option key={v.name} value={v.name}>
                {v.name}
              </option>
            ))}
          </select>
          {current
            ? VAULT_TABS.filter(([t]) => admin || (t !== "access" && t !== "events" && t !== "settings")).map(([t, label]) => (
                <Link
                  key={t}
                  to={`/vaults/${seg(current)}/${t}`}
                  class={tab === t ? "active sub" : "sub"}
                  aria-current={tab === t ? "page" : undefined}
                >
                  {label}
                </Link>
              ))
            : null}
        </div>
      ) : null}
    </nav>
  );
}

function Shell({ session, onSignedOut }: { session: Session; onSignedOut: () => void }) {
  const { path } = useRoute();
  const [epoch, setEpoch] = useState(0);
  const vaults = useLoad(() => api.vaults().then((r) => r.value), [epoch]);
  const [menu, setMenu] = useState(false);
  useEffect(() => setMenu(false), [path]);
  return (
    <ConsoleContext.Provider value={{ session, epoch, refresh: () => setEpoch((e) => e + 1) }}>
      <div class="shell">
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="topbar">
          <button type="button" class="menu-toggle" aria-expanded={menu} aria-controls="sidebar" onClick={() => setMenu(!menu)}>
            Menu
          </button>
          <Link to="/" class="brand">
            <span class="brand-mark" aria-hidden="true" />
            Lockbox
          </Link>
          <div class="topbar-right">
            {session.devClock ? <DevClock /> : null}
            <span class="who" title={`${session.identity.kind === "sp" ? "service principal" : "managed identity"} ${session.identity.id}`}>
              {session.identity.name}
              {session.identity.admin ? <span class="badge info">admin</span> : null}
            </span>
            <Button
              tone="ghost"
              onClick={async () => {
                await api.signOut().catch(() => undefined);
                onSignedOut();
              }}
            >
              Sign out
            </Button>
          </div>
        </header>
        <aside id="sidebar" class={menu ? "sidebar open" : "sidebar"}>
          <Nav path={path} vaults={vaults.data} />
        </aside>
        <main id="main" class="main" tabIndex={-1}>
          <Routed path={path} />
        </main>
      </div>
    </ConsoleContext.Provider>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const { path } = useRoute();
  const signedOut = () => {
    setSession(null);
    if (currentPathIsNot("/signin")) navigate("/signin", true);
  };
  const load = () =>
    api.session().then(
      (s) => {
        useSession(s, signedOut);
        setSession(s);
      },
      () => setSession(null),
    );
  useEffect(() => {
    useSession(undefined, signedOut);
    // A sign-in link carries its code in the fragment, which no server sees.
    const code = new URLSearchParams(location.hash.slice(1)).get("signin");
    if (code) {
      history.replaceState(null, "", location.pathname);
      api.signIn({ code }).then(load, (e: unknown) => {
        setSession(null);
        navigate(`/signin?error=${encodeURIComponent((e as Error).message)}`, true);
      });
    } else void load();
  }, []);
  if (session === undefined) return <Loading rows={4} />;
  if (session === null || path === "/signin") {
    return (
      <SignIn
        signedIn={async () => {
          await load();
          navigate("/", true);
        }}
      />
    );
  }
  return <Shell session={session} onSignedOut={signedOut} />;
}

const currentPathIsNot = (p: string) => !location.pathname.endsWith(p);

render(<App />, document.getElementById("app")!);
