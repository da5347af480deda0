import type { Command } from "commander";

export interface CryptoThreadPoolOptions {
  /** False with `--no-crypto-thread-pool`. */
  cryptoThreadPool: boolean;
}

/**
 * `--no-crypto-thread-pool`: channels' private-key operations (RSA signing, RSA-OAEP unwrapping)
 * run on the event loop instead of libuv's thread pool. Worth it only where no core is spare,
 * such as a small machine shared with PostgreSQL (see `EngineOptions.cryptoThreadPool`).
 */
export function addCryptoThreadPoolOption(command: Command): Command {
  return command.option(
    "--no-crypto-thread-pool",
    "sign and unwrap with private keys on the event loop, not libuv's thread pool: less CPU per step where no core is spare (a small machine shared with its database), slower elsewhere",
  );
}

/** The engine option, left out at its default. */
export function cryptoThreadPoolEngineOption(options: CryptoThreadPoolOptions): {
  cryptoThreadPool?: false;
} {
  return options.cryptoThreadPool === false ? { cryptoThreadPool: false } : {};
}
