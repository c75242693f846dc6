/**
 * Azure writes NSG and VNet flow logs as one block blob per hour (`PT1H.json`) that grows every
 * minute: a header block `{"records":[`, one block per record (`{...}`, later ones `,{...}`) and a
 * footer block `]}`, the block list re-committed with each new record before the footer. The bytes
 * before the footer never change, so a poller reads a grown blob from where the footer began and
 * gets only the new records, followed by the footer.
 */

const CLOSE_BRACKET = 0x5d; // ]
const CLOSE_BRACE = 0x7d; // }
const COMMA = 0x2c;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/**
 * Where the footer of a records document starts: the offset of the `]` in its final `]}`, or -1
 * when the bytes do not end that way (not this shape, or cut short).
 */
export function recordsFooterOffset(bytes: Uint8Array): number {
  let i = bytes.length - 1;
  while (i >= 0 && isSpace(bytes[i])) i--;
  if (i < 0 || bytes[i] !== CLOSE_BRACE) return -1;
  i--;
  while (i >= 0 && isSpace(bytes[i])) i--;
  return i >= 0 && bytes[i] === CLOSE_BRACKET ? i : -1;
}

/**
 * The records that follow `offset` in a grown blob, as a document of their own, from the bytes read
 * from that offset (the new record blocks, then the footer); undefined when the bytes are not new
 * records followed by the footer (the blob was rewritten, not grown).
 */
export function appendedRecordsDocument(tail: Uint8Array): { text: string; footerOffset: number } | undefined {
  const footer = recordsFooterOffset(tail);
  if (footer < 0) return undefined;
  let start = 0;
  while (start < footer && isSpace(tail[start])) start++;
  if (start < footer && tail[start] === COMMA) start++;
  const body = Buffer.from(tail.buffer, tail.byteOffset + start, footer - start).toString('utf8');
  if (body.trim() !== '' && !body.trimStart().startsWith('{')) return undefined;
  return { text: `{"records":[${body}]}`, footerOffset: footer };
}
