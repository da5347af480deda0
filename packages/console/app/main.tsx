import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { OpsApiError } from "./api/client.ts";
import { Shell } from "./components/shell.tsx";
import { I18nContext, type Locale, preferredLocale, translator } from "./i18n/i18n.ts";
import { DefinitionsPage } from "./pages/definitions.tsx";
import { InstancePage } from "./pages/instance.tsx";
import { LoginPage } from "./pages/login.tsx";
import { OverviewPage } from "./pages/overview.tsx";
import { SearchPage } from "./pages/search.tsx";
import { TokensPage } from "./pages/tokens.tsx";
import { useRoute } from "./router.ts";
import { type Session, SessionContext, signIn, storedToken, storeToken } from "./session.ts";
import "./styles.css";

const localeKey = "capflow.console.locale";

function initialLocale(): Locale {
  const stored = localStorage.getItem(localeKey);
  if (stored === "en" || stored === "zh-CN") return stored;
  return preferredLocale(navigator.languages);
}

function App() {
  const [locale, setLocale] = useState<Locale>(initialLocale);
  const i18n = useMemo(
    () => ({
      locale,
      t: translator(locale),
      setLocale: (next: Locale) => {
        localStorage.setItem(localeKey, next);
        setLocale(next);
      },
    }),
    [locale],
  );
  const [session, setSession] = useState<Session | null>(null);
  // The server refused the signed-in token (revoked or unknown): sign in again, the page kept.
  const [refused, setRefused] = useState(false);
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const route = useRoute();
  const current = useRef<Session | null>(null);
  current.current = session;

  useEffect(() => {
    document.documentElement.lang = locale;
    document.title = i18n.t("app.title");
  }, [locale, i18n]);

  const adopt = (next: Session) => {
    next.client.whenRefused(() => {
      // A late answer for a session already replaced says nothing about the current token.
      if (current.current !== next) return;
      storeToken(null);
      setRefused(true);
    });
    setSession(next);
    setRefused(false);
  };

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    signIn(token).then(
      (s) => {
        adopt(s);
        setChecking(false);
      },
      (error: unknown) => {
        storeToken(null);
        if (error instanceof OpsApiError && error.status === 401) setRefused(true);
        setChecking(false);
      },
    );
  }, []);

  const signOut = () => {
    storeToken(null);
    setSession(null);
    setRefused(false);
  };
  const page = route.path[0] ?? "overview";
  let content = null;
  if (checking) content = <p role="status">{i18n.t("common.loading")}</p>;
  else if (!session) content = null;
  else if (page === "instances" && route.path[1]) content = <InstancePage id={route.path[1]} />;
  else if (page === "instances") content = <SearchPage route={route} />;
  else if (page === "definitions") content = <DefinitionsPage route={route} />;
  else if (page === "tokens") content = <TokensPage />;
  else content = <OverviewPage />;
  const login =
    !checking && (!session || refused) ? (
      <LoginPage
        refused={refused}
        kept={session !== null}
        onSignedIn={(s, token) => {
          storeToken(token);
          adopt(s);
        }}
      />
    ) : null;

  return (
    <I18nContext.Provider value={i18n}>
      <SessionContext.Provider value={session}>
        <Shell
          operator={refused ? null : (session?.operator ?? null)}
          page={page}
          onSignOut={signOut}
        >
          {login}
          {/* Kept, hidden, while a refused token is replaced: what was typed in it survives. */}
          <div hidden={login !== null}>{content}</div>
        </Shell>
      </SessionContext.Provider>
    </I18nContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
