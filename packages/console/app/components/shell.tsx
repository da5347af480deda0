import type { ComponentChildren } from "preact";
import type { Operator } from "../api/types.ts";
import { type Locale, locales, useI18n } from "../i18n/i18n.ts";
import { href } from "../router.ts";
import { canManageTokens } from "../session.ts";

const languageNames: Record<Locale, string> = { "zh-CN": "中文", en: "English" };

/** Header with the main navigation, the language switch and the operator; the page below. */
export function Shell(props: {
  operator: Operator | null;
  page: string;
  onSignOut: () => void;
  children: ComponentChildren;
}) {
  const { t, locale, setLocale } = useI18n();
  const links: [string, string][] = [
    ["overview", t("nav.overview")],
    ["instances", t("nav.search")],
    ["definitions", t("nav.definitions")],
  ];
  // Only admins may manage tokens; the page itself answers the server's 403 for anyone else.
  if (props.operator && canManageTokens(props.operator)) links.push(["tokens", t("nav.tokens")]);
  return (
    <>
      <button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
        {t("app.skip")}
      </button>
      <header class="top">
        <span class="brand">{t("app.title")}</span>
        {props.operator ? (
          <nav aria-label={t("nav.label")}>
            {links.map(([page, label]) => (
              <a
                key={page}
                href={href([page])}
                aria-current={props.page === page ? "page" : undefined}
              >
                {label}
              </a>
            ))}
          </nav>
        ) : null}
        <span class="spacer" />
        <label class="language">
          <span>{t("nav.language")}</span>
          <select
            value={locale}
            onChange={(event) => setLocale((event.target as HTMLSelectElement).value as Locale)}
          >
            {locales.map((l) => (
              <option key={l} value={l}>
                {languageNames[l]}
              </option>
            ))}
          </select>
        </label>
        {props.operator ? (
          <>
            <span class="who">
              {t("nav.signedInAs", { who: props.operator.name, role: props.operator.role })}
            </span>
            <button type="button" onClick={props.onSignOut}>
              {t("nav.signOut")}
            </button>
          </>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </>
  );
}
