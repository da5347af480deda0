import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { type Locale, type Translate, translator } from "./translate.ts";

export { type Locale, locales, preferredLocale, type Translate, translator } from "./translate.ts";

export interface I18n {
  locale: Locale;
  t: Translate;
  setLocale: (locale: Locale) => void;
}

export const I18nContext = createContext<I18n>({
  locale: "en",
  t: translator("en"),
  setLocale: () => {},
});

export function useI18n(): I18n {
  return useContext(I18nContext);
}
