import { useState } from "preact/hooks";
import { useI18n } from "../i18n/i18n.ts";
import { type Session, signIn } from "../session.ts";

/**
 * Signing in with a token. `refused`: the server refused the token this tab was signed in with
 * (revoked or unknown), said above the form; `kept`: the page it was on waits behind, as it was.
 */
export function LoginPage(props: {
  refused?: boolean;
  kept?: boolean;
  onSignedIn: (session: Session, token: string) => void;
}) {
  const { t } = useI18n();
  const [token, setToken] = useState("");
  const [refused, setRefused] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setRefused(false);
    try {
      props.onSignedIn(await signIn(token.trim()), token.trim());
    } catch {
      setRefused(true);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="login" aria-labelledby="login-title">
      <h1 id="login-title">{t("login.title")}</h1>
      {props.refused ? (
        <p role="status" class="notice">
          {t("login.tokenRefused")}
          {props.kept ? ` ${t("login.tokenRefused.kept")}` : ""}
        </p>
      ) : null}
      <p>{t("login.intro")}</p>
      <form onSubmit={submit}>
        <label for="token">{t("login.token")}</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          required
          value={token}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={busy || token.trim() === ""}>
          {t("login.submit")}
        </button>
        {refused ? (
          <p role="alert" class="error">
            {t("login.refused")}
          </p>
        ) : null}
      </form>
    </section>
  );
}
