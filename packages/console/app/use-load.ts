import { useCallback, useContext, useEffect, useState } from "preact/hooks";
import { SessionContext } from "./session.ts";

export type Loaded<T> =
  | { state: "loading" }
  | { state: "failed"; message: string }
  | { state: "ready"; value: T };

/**
 * Loads once per change of `key` or of the signed-in token (after signing in again, what failed
 * with the refused token is asked again, and what is shown stays until the new answer);
 * `reload` loads again (after an action).
 */
export function useLoad<T>(load: () => Promise<T>, key: string): [Loaded<T>, () => void] {
  const [loaded, setLoaded] = useState<Loaded<T>>({ state: "loading" });
  const [round, setRound] = useState(0);
  const client = useContext(SessionContext)?.client;
  useEffect(() => {
    let current = true;
    load().then(
      (value) => current && setLoaded({ state: "ready", value }),
      (error: unknown) =>
        current &&
        setLoaded({
          state: "failed",
          message: error instanceof Error ? error.message : String(error),
        }),
    );
    return () => {
      current = false;
    };
  }, [key, round, client]);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  return [loaded, reload];
}
