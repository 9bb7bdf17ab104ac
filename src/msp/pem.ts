// PEM framing (RFC 7468) with the semantics of Go's encoding/pem that Fabric relies on: the
// first block only, its type, and what follows it. PEM is text framing, not ASN.1.
import { isBase64, sha256Hex } from '../crypto/index.js';

export type PemBlock = {
  readonly type: string;
  readonly der: Uint8Array;
  /** Bytes after the block's END line (Go's `rest`). */
  readonly rest: string;
};

/** Bytes of input accepted for one PEM file; larger files are refused before parsing. */
export const pemFileBytesMax = 1024 * 1024;

const blockPattern =
  /-----BEGIN ([^\r\n-]*)-----\r?\n([\s\S]*?)(?:\r?\n)?-----END \1-----[ \t]*(?:\r?\n|$)/;

/** Decodes the first PEM block, or returns undefined when there is none with a valid body. */
export function decodeFirstPem(text: string): PemBlock | undefined {
  let search = text;
  let offset = 0;
  for (;;) {
    const match = blockPattern.exec(search);
    if (match === null) return undefined;
    const body = (match[2] ?? '')
      .split(/\r?\n/)
      .filter((line) => !line.includes(':')) // RFC 1421 headers (Proc-Type, DEK-Info)
      .join('')
      .replace(/[ \t]/g, '');
    if (isBase64(body)) {
      const end = offset + match.index + match[0].length;
      return {
        type: match[1] ?? '',
        der: new Uint8Array(Buffer.from(body, 'base64')),
        rest: text.slice(end),
      };
    }
    // Like Go: a block with a broken body is skipped and the search goes on after it.
    const skip = match.index + match[0].length;
    offset += skip;
    search = search.slice(skip);
  }
}

export function encodePem(type: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

/**
 * Reference to a certificate as a client sends it: hex SHA-256 of the DER of its first PEM
 * block. (Fabric's identity id hashes the low-S normalised DER, which needs the issuer.)
 */
/** Certificate references remembered by PEM text (every request of a signer sends the same). */
export const pemRefCacheMax = 10_000;
const pemRefs = new Map<string, string | undefined>();

export function pemCertificateRef(pem: string): string | undefined {
  const cached = pemRefs.get(pem);
  if (cached !== undefined || pemRefs.has(pem)) return cached;
  const block = decodeFirstPem(pem);
  const ref = block === undefined ? undefined : sha256Hex(block.der);
  if (pemRefs.size >= pemRefCacheMax) pemRefs.clear();
  pemRefs.set(pem, ref);
  return ref;
}
