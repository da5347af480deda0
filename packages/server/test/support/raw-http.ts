import { connect } from "node:net";

export interface RawAnswer {
  /** Status line's code, or undefined when the server closed without answering. */
  status: number | undefined;
  /** Everything the server sent. */
  text: string;
  /** The server closed the connection. */
  closed: boolean;
}

/**
 * Writes `parts` to a plain TCP connection, waiting `pauseMs` between them, and collects what the
 * server answers until it closes the connection or `waitMs` passes. For requests no HTTP client
 * sends: a body trickling in, a header promising more than comes.
 */
export function rawRequest(
  port: number,
  parts: (string | Buffer)[],
  options: { pauseMs?: number; waitMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), text, closed });
      socket.destroy();
    };
    const timer = setTimeout(finish, options.waitMs ?? 5_000);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A reset after the answer is how a server cuts a request; before it, a failure.
      if (chunks.length === 0 && error.code !== "ECONNRESET" && error.code !== "EPIPE")
        reject(error);
    });
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.on("connect", async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
        if (socket.destroyed) return;
        socket.write(part);
      }
    });
  });
}
