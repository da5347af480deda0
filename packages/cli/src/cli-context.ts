/** What a command may use: where to write, where relative paths start, and how to fail. */
export interface CliContext {
  /** Writes to standard output (text is written as is; end lines yourself). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /** Folder relative paths are resolved against. */
  cwd: string;
  /** Sets the process exit code without stopping (e.g. 1 when problems were reported). */
  setExitCode(code: number): void;
}
