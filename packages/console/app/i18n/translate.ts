import { en, type MessageKey } from "./en.ts";
import { zhCN } from "./zh-CN.ts";

/**
 * Two languages, typed keys: a missing translation is a type error, not a blank on screen. Small
 * enough that a library (i18next, lingui) would add more than it saves.
 */
export type Locale = "en" | "zh-CN";

export const locales: readonly Locale[] = ["zh-CN", "en"];

const dictionaries: Record<Locale, Record<MessageKey, string>> = { en, "zh-CN": zhCN };

export type Translate = (key: MessageKey, values?: Record<string, string | number>) => string;

export function translator(locale: Locale): Translate {
  const dictionary = dictionaries[locale];
  return (key, values) => {
    const text = dictionary[key] ?? en[key] ?? key;
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
      name in values ? String(values[name]) : whole,
    );
  };
}

/** The browser's preferred language, if it is one of ours; Chinese otherwise English. */
export function preferredLocale(languages: readonly string[]): Locale {
  for (const language of languages) {
    if (language.toLowerCase().startsWith("zh")) return "zh-CN";
    if (language.toLowerCase().startsWith("en")) return "en";
  }
  return "en";
}
