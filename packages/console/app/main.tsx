import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
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
  const [checking, setChecking] = useState(() => storedToken() !== null);
  const route = useRoute();

  useEffect(() => {
    document.documentElement.lang = locale;
    document.title = i18n.t("app.title");
  }, [locale, i18n]);

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    signIn(token).then(
      (s) => {
        setSession(s);
        setChecking(false);
      },
      () => {
        storeToken(null);
        setChecking(false);
      },
    );
  }, []);

  const signOut = () => {
    storeToken(null);
    setSession(null);
  };
  const page = route.path[0] ?? "overview";
  let content = null;
  if (checking) content = <p role="status">{i18n.t("common.loading")}</p>;
  else if (!session)
    content = (
      <LoginPage
        onSignedIn={(s, token) => {
          storeToken(token);
          setSession(s);
        }}
      />
    );
  else if (page === "instances" && route.path[1]) content = <InstancePage id={route.path[1]} />;
  else if (page === "instances") content = <SearchPage route={route} />;
  else if (page === "definitions") content = <DefinitionsPage route={route} />;
  else if (page === "tokens") content = <TokensPage />;
  else content = <OverviewPage />;

  return (
    <I18nContext.Provider value={i18n}>
      <SessionContext.Provider value={session}>
        <Shell operator={session?.operator ?? null} page={page} onSignOut={signOut}>
          {content}
        </Shell>
      </SessionContext.Provider>
    </I18nContext.Provider>
  );
}

render(<App />, document.getElementById("app")!);
