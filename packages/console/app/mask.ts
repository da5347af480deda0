/**
 * The console's last line against personal data: the operator API already masks step logs and
 * contexts by each channel's rules; anything that still looks like a phone (11 digits), ID-card
 * (15 digits, or 17 and a check character) or bank-card number (16 to 19 digits) is masked before
 * it is shown, keeping the first 3 and last 4 characters, as the engine's own maskers do. Epoch
 * milliseconds (13 digits) and serial numbers (24) are left readable.
 */
const digitRun = /(?<![\dA-Za-z])\d{10,18}[\dXx](?![\dA-Za-z])/g;
const personalLengths = new Set([11, 15, 16, 17, 18, 19]);

export function maskText(text: string): string {
  return text.replace(digitRun, (run) => {
    if (!personalLengths.has(run.length) || (/[Xx]$/.test(run) && run.length !== 18)) return run;
    return `${run.slice(0, 3)}${"*".repeat(run.length - 7)}${run.slice(-4)}`;
  });
}

/** Pretty JSON of a value, masked. */
export function maskedJson(value: unknown): string {
  if (value === undefined) return "";
  return maskText(JSON.stringify(value, null, 2));
}
