// Shared helpers of the cryptogen tests: temp folders, file listing, and independent
// certificate checks (node:crypto and openssl, not the code under test).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

export async function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'coffer-cryptogen-'));
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Every file and folder under `root`, relative, folders with a trailing slash, sorted. */
export async function listTree(root: string): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        entries.push(`${relative(root, path)}/`);
        await walk(path);
      } else {
        entries.push(relative(root, path));
      }
    }
  };
  await walk(root);
  return entries.sort();
}

export async function readCert(path: string): Promise<x509.X509Certificate> {
  return new x509.X509Certificate(await readFile(path, 'utf8'));
}

export async function readNodeCert(path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path));
}

export async function fileMode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

/** SHA-256 of the uncompressed EC point of the certificate key (cryptogen's SKI), hex. */
export function skiOfPublicKey(cert: X509Certificate): string {
  const jwk = cert.publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([
    Buffer.from([4]),
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
  return createHash('sha256').update(point).digest('hex');
}

/** True when the PEM private key is the key of the certificate. */
export async function keyMatchesCert(keyPath: string, cert: X509Certificate): Promise<boolean> {
  const privateKey = createPrivateKey(await readFile(keyPath, 'utf8'));
  const derived = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  return derived.equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
}

export function publicKeyDer(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}

export function skiOf(cert: x509.X509Certificate): string | undefined {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
}

export function akiOf(item: x509.X509Certificate | x509.X509Crl): string | undefined {
  return item.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
}

/** S of a DER ECDSA-Sig-Value is at most n/2 (Fabric's low-S rule). */
export function isLowS(signatureDer: ArrayBuffer): boolean {
  const order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  const bytes = new Uint8Array(signatureDer);
  // SEQUENCE { INTEGER r, INTEGER s } with short lengths (P-256).
  let offset = 2;
  const readInteger = (): bigint => {
    if (bytes[offset] !== 0x02) throw new Error('not a DER INTEGER');
    const length = bytes[offset + 1] ?? 0;
    const body = bytes.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    return BigInt(`0x${Buffer.from(body).toString('hex')}`);
  };
  readInteger();
  const s = readInteger();
  return s <= order / 2n;
}

/** `openssl verify`; returns [exit status, output]. */
export function opensslVerify(args: readonly string[]): [number, string] {
  try {
    const out = execFileSync('openssl', ['verify', ...args], { encoding: 'utf8', stdio: 'pipe' });
    return [0, out];
  } catch (error) {
    const failure = error as { status?: number; stdout?: string; stderr?: string };
    return [failure.status ?? -1, `${failure.stdout ?? ''}${failure.stderr ?? ''}`];
  }
}

/** Collects what a command prints. */
export function collectingIo(): {
  io: { stdout: (text: string) => void; stderr: (text: string) => void };
  out: string[];
  err: string[];
} {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (text) => out.push(text), stderr: (text) => err.push(text) }, out, err };
}
