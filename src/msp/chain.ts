// Certificate chain building with the semantics of Go's crypto/x509 Verify, which Fabric's
// MSP relies on: every chain to a root is found (not just the first), each certificate must be
// valid at the chosen instant, CA and path-length constraints hold, and the chain must allow
// the requested extended key usage (serverAuth by default, fabric#5091).
import {
  bytesEqual,
  oidEkuAny,
  oidEkuServerAuth,
  signatureVerifiedBy,
  type ParsedCert,
} from './cert.js';

/** Go's maxChainSignatureChecks: a bound on signature checks while building chains. */
export const chainSignatureChecksMax = 100;

export type CertPool = {
  readonly bySubject: ReadonlyMap<string, readonly ParsedCert[]>;
  readonly hexes: ReadonlySet<string>;
};

/** A pool deduplicated by DER, like Go's CertPool.AddCert. */
export function createPool(certs: readonly ParsedCert[]): CertPool {
  const bySubject = new Map<string, ParsedCert[]>();
  const hexes = new Set<string>();
  for (const cert of certs) {
    if (hexes.has(cert.hex)) continue;
    hexes.add(cert.hex);
    const list = bySubject.get(cert.subjectKey) ?? [];
    list.push(cert);
    bySubject.set(cert.subjectKey, list);
  }
  return { bySubject, hexes };
}

export type VerifyOptions = {
  readonly roots: CertPool;
  readonly intermediates: CertPool;
  readonly at: Date;
  /** Extended key usage the chain must allow; Go's (and so Fabric's) default is serverAuth. */
  readonly usage?: string;
};

export type ChainOutcome =
  | { readonly ok: true; readonly chains: readonly (readonly ParsedCert[])[] }
  | { readonly ok: false; readonly reason: string };

/** Candidate parents ordered as Go does: matching key ids first, mismatching last. */
function potentialParents(pool: CertPool, cert: ParsedCert): ParsedCert[] {
  const matching: ParsedCert[] = [];
  const one: ParsedCert[] = [];
  const mismatch: ParsedCert[] = [];
  for (const candidate of pool.bySubject.get(cert.issuerKey) ?? []) {
    if (candidate.ski !== undefined && bytesEqual(candidate.ski, cert.aki))
      matching.push(candidate);
    else if ((candidate.ski === undefined) !== (cert.aki === undefined)) one.push(candidate);
    else if (candidate.ski === undefined && cert.aki === undefined) matching.push(candidate);
    else mismatch.push(candidate);
  }
  return [...matching, ...one, ...mismatch];
}

function validAt(cert: ParsedCert, at: Date): boolean {
  return at.getTime() >= cert.notBefore.getTime() && at.getTime() <= cert.notAfter.getTime();
}

/** Go's CheckSignatureFrom: parent constraints, then the signature. */
function signedBy(child: ParsedCert, parent: ParsedCert): boolean {
  if (parent.version === 3 && !parent.basicConstraintsValid) return false;
  if (parent.basicConstraintsValid && !parent.isCa) return false;
  if (parent.keyUsageCertSign === false) return false;
  if (child.signatureInsecure) return false;
  return signatureVerifiedBy(child, parent);
}

/**
 * Fabric's validHostname (kept from Go 1.14 for its legacy name-constraint rule): labels of
 * letters, digits, '-' (not first), '_' and ':'; a leading '*' label; one trailing dot.
 */
export function looksLikeHostname(name: string): boolean {
  const host = name.endsWith('.') ? name.slice(0, -1) : name;
  if (host.length === 0) return false;
  return host.split('.').every((label, index) => {
    if (label.length === 0) return false;
    if (index === 0 && label === '*') return true;
    return /^[A-Za-z0-9_:][A-Za-z0-9_:-]*$/.test(label);
  });
}

/** Go's matchDomainConstraint for DNS names: ".x" needs a subdomain, "x" also matches x. */
function dnsMatches(name: string, constraint: string): boolean {
  if (constraint.length === 0) return true;
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length;
  return n === c || n.endsWith(`.${c}`);
}

function nameConstraintsAllow(ca: ParsedCert, leaf: ParsedCert): boolean {
  if (!ca.hasNameConstraints) return true;
  for (const name of leaf.dnsNames) {
    if (ca.excludedDns.some((constraint) => dnsMatches(name, constraint))) return false;
    if (ca.permittedDns.length > 0 && !ca.permittedDns.some((c) => dnsMatches(name, c)))
      return false;
  }
  return true;
}

/** Go's alreadyInChain: same subject, same key and same SAN count as the same certificate. */
function sameCertificateIdentity(a: ParsedCert, b: ParsedCert): boolean {
  return a.subjectKey === b.subjectKey && a.spkiHex === b.spkiHex && a.sanHex === b.sanHex;
}

/**
 * Fabric's verifyLegacyNameConstraints, applied to the one chain left after Verify: a leaf
 * without SANs whose CN looks like a host name is refused under a name-constrained CA.
 */
export function legacyNameConstraintsAllow(chain: readonly ParsedCert[]): boolean {
  const [leaf, ...cas] = chain;
  if (leaf === undefined || cas.length === 0 || leaf.hasSan) return true;
  if (leaf.commonName === undefined || !looksLikeHostname(leaf.commonName)) return true;
  return !cas.some((ca) => ca.hasNameConstraints);
}

/** Go's checkChainForKeyUsage for one requested usage. */
function chainAllowsUsage(chain: readonly ParsedCert[], usage: string): boolean {
  for (const cert of chain) {
    if (cert.extKeyUsages.length === 0) continue;
    if (cert.extKeyUsages.includes(oidEkuAny)) continue;
    if (!cert.extKeyUsages.includes(usage)) return false;
  }
  return true;
}

/**
 * Every chain from `leaf` to a root of `options.roots`, as Go's Certificate.Verify returns them
 * (leaf first). A leaf that is itself a root gives the one chain [leaf].
 */
export function buildChains(leaf: ParsedCert, options: VerifyOptions): ChainOutcome {
  if (leaf.unhandledCritical.length > 0) {
    return {
      ok: false,
      reason: `unhandled critical extension ${leaf.unhandledCritical.join(', ')}`,
    };
  }
  if (!validAt(leaf, options.at)) {
    return { ok: false, reason: 'certificate is not valid at its own NotBefore + 1s' };
  }
  let candidates: ParsedCert[][];
  let failure = 'certificate signed by unknown authority';
  if (options.roots.hexes.has(leaf.hex)) {
    candidates = [[leaf]];
  } else {
    const checks = { count: 0 };
    const extend = (chain: ParsedCert[]): ParsedCert[][] => {
      const current = chain[chain.length - 1];
      if (current === undefined) return [];
      const found: ParsedCert[][] = [];
      const consider = (candidate: ParsedCert, isRoot: boolean): void => {
        if (chain.some((c) => sameCertificateIdentity(c, candidate))) return;
        checks.count += 1;
        if (checks.count > chainSignatureChecksMax) {
          failure = 'signature check attempts limit reached while verifying certificate chain';
          return;
        }
        if (!signedBy(current, candidate)) return;
        if (!validAt(candidate, options.at)) {
          failure = `CA certificate ${candidate.source} is not valid at the identity's NotBefore + 1s`;
          return;
        }
        if (!isRoot && !(candidate.basicConstraintsValid && candidate.isCa)) return;
        if (candidate.basicConstraintsValid && candidate.maxPathLen !== undefined) {
          if (chain.length - 1 > candidate.maxPathLen) return;
        }
        if (!nameConstraintsAllow(candidate, leaf)) {
          failure = `name constraints of ${candidate.source} refuse the certificate`;
          return;
        }
        if (isRoot) found.push([...chain, candidate]);
        else found.push(...extend([...chain, candidate]));
      };
      for (const root of potentialParents(options.roots, current)) consider(root, true);
      for (const inter of potentialParents(options.intermediates, current)) consider(inter, false);
      return found;
    };
    candidates = extend([leaf]);
  }
  if (candidates.length === 0) return { ok: false, reason: failure };
  const usage = options.usage ?? oidEkuServerAuth;
  const chains = candidates.filter((chain) => chainAllowsUsage(chain, usage));
  if (chains.length === 0) {
    return {
      ok: false,
      reason: `certificate specifies an incompatible extended key usage (needs ${usage} or any)`,
    };
  }
  return { ok: true, chains };
}
