/**
 * Copies text to the clipboard. The Clipboard API exists only on secure pages (HTTPS, localhost);
 * a console served over plain HTTP on an internal address falls back to selecting the field and
 * the older copy command. False when neither worked: the operator copies by hand.
 */
export async function copyToClipboard(
  text: string,
  field: HTMLInputElement | null,
): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    field?.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}
