import type { Locale } from "./i18n/translate.ts";

/**
 * Dates in the channel's time zone (where the funder's business day is), with the zone shown, so
 * an operator in another zone reads the same day the funder does.
 */
export function formatDateTime(ms: number | null | undefined, timeZone: string, locale: Locale) {
  if (ms === null || ms === undefined) return "—";
  return new Intl.DateTimeFormat(locale, {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).format(new Date(ms));
}

/** A duration in the largest two units: `3 d 4 h`, `12 min 5 s`, `800 ms`. */
export function formatAge(ms: number, locale: Locale): string {
  const units: [number, string, string][] = [
    [86_400_000, "d", "天"],
    [3_600_000, "h", "小时"],
    [60_000, "min", "分"],
    [1_000, "s", "秒"],
  ];
  if (ms < 1_000)
    return locale === "zh-CN"
      ? `${Math.max(0, Math.round(ms))} 毫秒`
      : `${Math.max(0, Math.round(ms))} ms`;
  const parts: string[] = [];
  let rest = ms;
  for (const [size, enUnit, zhUnit] of units) {
    if (parts.length === 2) break;
    const count = Math.floor(rest / size);
    if (count > 0 || parts.length > 0) {
      if (count > 0) parts.push(locale === "zh-CN" ? `${count} ${zhUnit}` : `${count} ${enUnit}`);
      rest -= count * size;
    }
  }
  return parts.join(" ");
}

/**
 * An amount as a decimal with grouping, from a decimal string or a whole number of cents, never
 * through floating point: `"1250000.5"` -> `1,250,000.50`; `{ cents: 125 }` -> `1.25`.
 */
export function formatAmount(
  value: string | number | { cents: number | string },
  scale = 2,
): string {
  let text: string;
  if (typeof value === "object") {
    const cents = String(value.cents);
    if (!/^-?\d+$/.test(cents)) return cents;
    const negative = cents.startsWith("-");
    const digits = (negative ? cents.slice(1) : cents).padStart(scale + 1, "0");
    text = `${negative ? "-" : ""}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  } else {
    text = String(value);
  }
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = ""] = match;
  const grouped = whole!.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const decimals = fraction.length >= scale ? fraction : fraction.padEnd(scale, "0");
  return `${sign}${grouped}.${decimals}`;
}

/** A ratio as a percentage with one decimal: `0.0345` -> `3.5%`; no data -> `—`. */
export function formatRate(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return "—";
  return `${(rate * 100).toFixed(1)}%`;
}

/** A call's latency: whole milliseconds below a second, seconds with one decimal above. */
export function formatLatency(ms: number | null | undefined, locale: Locale): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1_000) return locale === "zh-CN" ? `${Math.round(ms)} 毫秒` : `${Math.round(ms)} ms`;
  const seconds = (ms / 1_000).toFixed(1);
  return locale === "zh-CN" ? `${seconds} 秒` : `${seconds} s`;
}
