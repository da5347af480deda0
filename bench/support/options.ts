/** Options after `pnpm bench <filter>`, read from the command line by the bench files. */

/** `--name N`: a positive whole number, or undefined when the option is not given. */
export function positiveIntegerOption(name: string): number | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} takes a positive integer`);
  return value;
}
