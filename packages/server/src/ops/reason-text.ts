import { CapflowError } from "@capflow/core";

/** C0 and C1 controls and DEL: a line break or ESC printed raw fakes rows or hides columns. */
const controlCharacter = /\p{Cc}/u;

/** Format characters (zero-width spaces and joiners, bidi marks): invisible, they split a token. */
const formatCharacters = /\p{Cf}/gu;

/** An operator token, its prefix in any case (the text is case-folded before matching). */
const tokenLike = /cfo_[a-z0-9_-]{16,}/;

/** A base64url run nearly as long as a token's body (43): a token pasted without its prefix. */
const longBase64url = /[A-Za-z0-9_-]{40,}/;

/**
 * Refuses the text of an operator's reason that holds control characters or what looks like a
 * token. Reasons are stored and listed in clear, next to the operator's name, so they must print
 * as the one line they are and hold no secret: the text is normalised (NFKC, format characters
 * removed) before it is matched, so a full-width or zero-width-split token is found too.
 */
export function checkReasonText(reason: string): void {
  if (controlCharacter.test(reason)) {
    throw new CapflowError(
      "REQUEST_INVALID",
      "the reason holds a control character (a line break, tab, escape or the like); send it as one line of plain text",
    );
  }
  const normalised = reason.normalize("NFKC").replace(formatCharacters, "");
  if (tokenLike.test(normalised.toLowerCase()) || longBase64url.test(normalised)) {
    throw new CapflowError(
      "REQUEST_INVALID",
      "the reason holds what looks like an operator token (cfo_… or a long run of letters and digits); name the token by its id or name instead: reasons are kept and listed in clear",
    );
  }
}
