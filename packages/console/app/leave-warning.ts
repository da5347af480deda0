import { useEffect } from "preact/hooks";

/**
 * While `message` is set, leaving the page asks first: a reload, a closed tab or another address
 * gets the browser's own question (it shows no page text), and a console link (the navigation
 * moves by hash, which cannot be cancelled once changed) asks `message` before it is followed.
 */
export function useLeaveWarning(message: string | null): void {
  useEffect(() => {
    if (message === null) return;
    const beforeUnload = (event: BeforeUnloadEvent) => {
      event.preventDefault();
      event.returnValue = message;
    };
    const click = (event: MouseEvent) => {
      const link = (event.target as Element | null)?.closest?.("a[href]");
      if (!link || event.defaultPrevented) return;
      if (!window.confirm(message)) {
        event.preventDefault();
        event.stopPropagation();
      }
    };
    window.addEventListener("beforeunload", beforeUnload);
    document.addEventListener("click", click, true);
    return () => {
      window.removeEventListener("beforeunload", beforeUnload);
      document.removeEventListener("click", click, true);
    };
  }, [message]);
}
