import { useState } from "preact/hooks";
import { api } from "../api.ts";
import { currentPath } from "../router.ts";
import { Button, ErrorBanner, Field } from "../ui.tsx";

/** Sign-in: the one-time link from `lockbox console` signs in by itself; here a service principal can. */
export function SignIn({ signedIn }: { signedIn: () => Promise<void> }) {
  const linkError = currentPath().query.get("error");
  const [clientId, setClientId] = useState("");
  const [clientSecret, setClientSecret] = useState("");
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin" id="main">
      <div class="signin-card">
        <div class="brand big">
          <span class="brand-mark" aria-hidden="true" />
          Lockbox
        </div>
        <h1>Sign in to the console</h1>
        {linkError ? (
          <div class="banner error" role="alert">
            {linkError}
          </div>
        ) : null}
        <p class="muted">
          On the machine that runs Lockbox, run <code>lockbox console</code> and open the link it prints. A link works once.
        </p>
        <div class="divider">
          <span>or sign in as a service principal</span>
        </div>
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setBusy(true);
            setError(undefined);
            try {
              await api.signIn({ clientId, clientSecret });
              await signedIn();
            } catch (err) {
              setError(err);
            } finally {
              setBusy(false);
            }
          }}
        >
          <Field label="Client id">
            <input
              name="clientId"
              autoComplete="username"
              required
              value={clientId}
              onInput={(e) => setClientId((e.target as HTMLInputElement).value)}
            />
          </Field>
          <Field label="Client secret">
            <input
              name="clientSecret"
              type="password"
              autoComplete="current-password"
              required
              value={clientSecret}
              onInput={(e) => setClientSecret((e.target as HTMLInputElement).value)}
            />
          </Field>
          <ErrorBanner error={error} />
          <Button tone="primary" type="submit" busy={busy}>
            Sign in
          </Button>
        </form>
      </div>
    </main>
  );
}
