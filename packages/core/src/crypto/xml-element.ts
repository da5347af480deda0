import { SaxesParser } from "saxes";

/**
 * The text of one XML element exactly as it stands in `text`, from the `<` of its start tag to
 * the `>` of its end tag: attributes, spacing, entities and CDATA as the partner wrote them, never
 * re-serialised. Banks that sign "the `<body>` element" sign these characters' bytes in the
 * message's charset; decoding a valid message and encoding the slice again gives those bytes back.
 *
 * Returns undefined unless the document is well-formed, has no DTD (entities declared in one
 * could make the text say something else than it reads), and exactly one element has the name:
 * with two, one could be shown and the other verified. Names compare as written, prefix included.
 *
 * Hand-written on top of saxes because no XML library returns an element's source range; saxes
 * gives the positions (JavaScript string indexes) and the well-formedness check.
 */
export function xmlElementText(text: string, element: string): string | undefined {
  const parser = new SaxesParser({ position: true });
  let start = -1;
  let range: [number, number] | undefined;
  let count = 0;
  let depth = 0;
  let openDepth = -1;
  let refused = false;
  parser.on("doctype", () => {
    refused = true;
  });
  parser.on("error", () => {
    refused = true;
  });
  parser.on("opentagstart", (tag) => {
    depth++;
    if (tag.name !== element) return;
    count++;
    if (openDepth === -1) {
      // The name has been read: the tag's `<` is the last one before the parser's position.
      start = text.lastIndexOf("<", parser.position - 1);
      openDepth = depth;
    }
  });
  parser.on("closetag", () => {
    if (depth === openDepth && range === undefined) range = [start, parser.position];
    depth--;
  });
  try {
    parser.write(text).close();
  } catch {
    return undefined;
  }
  if (refused || count !== 1 || range === undefined) return undefined;
  return text.slice(range[0], range[1]);
}
