/**
 * A signature header such as
 * `WECHATPAY2-SHA256-RSA2048 mchid="{mchid}",serial_no="{serial}",timestamp="{timestamp}",nonce_str="{nonce}",signature="{signature}"`,
 * rendered on outgoing messages and parsed back on incoming ones with the same template, so the
 * two sides cannot drift apart.
 */
export interface HeaderTemplate {
  render(values: Record<string, string>): string;
  /** The named values, or undefined when the header does not have the template's shape. */
  parse(header: string): Record<string, string> | undefined;
}

export function compileHeaderTemplate(
  template: string,
  fixed: Record<string, string> = {},
): HeaderTemplate {
  const names: string[] = [];
  let pattern = "^";
  let last = 0;
  for (const match of template.matchAll(/\{([^}]+)\}/g)) {
    pattern += escapeRegExp(template.slice(last, match.index));
    const name = match[1] ?? "";
    const value = fixed[name];
    if (value !== undefined) pattern += escapeRegExp(value);
    else {
      names.push(name);
      // A value ends where the template's next literal character starts (usually a quote).
      const next = template[match.index + match[0].length];
      pattern += next === undefined ? "(.*)" : `([^${escapeClass(next)}]*)`;
    }
    last = match.index + match[0].length;
  }
  pattern += `${escapeRegExp(template.slice(last))}$`;
  const regex = new RegExp(pattern);
  return {
    render(values) {
      return template.replace(
        /\{([^}]+)\}/g,
        (_, name: string) => fixed[name] ?? values[name] ?? "",
      );
    },
    parse(header) {
      const match = regex.exec(header.trim());
      if (match === null) return undefined;
      const out: Record<string, string> = {};
      names.forEach((name, i) => {
        out[name] = match[i + 1] ?? "";
      });
      return out;
    },
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function escapeClass(char: string): string {
  return char.replace(/[\]\\^-]/g, "\\$&");
}
