/**
 * A writer for standard output or error that stops quietly when the reader goes away. A reader
 * that has read enough (`capflow instances list --json | head -1`) closes the pipe; the next write
 * fails with EPIPE, and Node would crash on that unhandled stream error. Like other Unix tools,
 * the command then writes nothing more and finishes what it was doing (a worker still commits the
 * steps in flight); every other stream error is still raised.
 */
export function pipeWriter(stream: NodeJS.WritableStream): (text: string) => void {
  let closed = false;
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") {
      closed = true;
      return;
    }
    throw error;
  });
  return (text) => {
    if (!closed) stream.write(text);
  };
}
