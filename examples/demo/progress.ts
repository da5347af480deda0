/**
 * One progress line, about once a second: rewritten in place on a terminal, printed as plain
 * lines (every few seconds) when the output is a file or a CI log.
 */
export interface ProgressReporter {
  update(line: string): void;
  /** Ends the line in place (terminal) so the next output starts on a fresh line. */
  done(): void;
}

export function createProgressReporter(options: {
  write: (text: string) => void;
  tty: boolean;
  /** Real milliseconds between plain lines. Default 2000 (terminal: 250). */
  everyMs?: number;
}): ProgressReporter {
  const everyMs = options.everyMs ?? (options.tty ? 250 : 2_000);
  let last = 0;
  let shown = false;
  let width = 0;
  return {
    update(line) {
      const now = performance.now();
      if (now - last < everyMs) return;
      last = now;
      if (options.tty) {
        options.write(`\r${line.padEnd(width)}`);
        width = line.length;
        shown = true;
      } else {
        options.write(`${line}\n`);
      }
    },
    done() {
      if (options.tty && shown) options.write("\n");
      shown = false;
    },
  };
}

/** `2h14m`, `3m05s`, `12s`: how far the demo clock has moved. */
export function formatClockSpan(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, "0")}m`;
  if (minutes > 0) return `${minutes}m${String(rest).padStart(2, "0")}s`;
  return `${rest}s`;
}
