// MSP benchmark: identity validation (cold and cached), deserialization, signature checks and
// signing through the Msp type, next to raw node:crypto. Runs against dist/ (npm run build).
// Human-readable lines go to stderr; the last stdout line is the JSON object of figures.
//
// Cold validation needs identities the MSP has never seen (it caches validations by identity
// ID), so it uses a generated PKI shaped like the Fabric samples whose CA keys we do not have:
// one MSP like sampleconfig-msp (root CA, OU "COP" pinned in config.yaml) and one like
// testdata/intermediate (root + intermediate CA), each with thousands of distinct leaves.
// Warm validation, verification and signing use the Fabric sample MSPs themselves.
import { Buffer } from 'node:buffer';
import { randomBytes, verify as nodeVerify } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { loadMspFolder } from '../dist/msp/index.js';
import { createAuthority, createLeafFactory } from './lib/certs.mjs';
import { measure, measureEach, measureInterleaved, perSecond } from './lib/measure.mjs';

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const testdata = path.join(repoRoot, 'test/fixtures/fabric-msp-conformance/testdata');
const mspId = 'SampleOrg';
/** Used only when the sample MSPs cannot be set up at the real date (their certs expire). */
const fallbackClock = new Date('2026-01-01T00:00:00Z');
const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 1500);
const warmupMs = Math.min(300, windowMs);
if (!(windowMs > 0)) throw new Error(`BENCH_WINDOW_MS must be a positive number of ms`);
const messageBytes = 1024;
/** Distinct identities validated, in passes, for the cold figures. */
const coldIdentities = 300;
/** Fresh PEMs for the deserialize + validate warm-up, which also estimates the rate. */
const deserializeWarmupPems = 100;
/** Fresh PEMs prepared: this many times what the estimated rate needs for the window. */
const poolSlack = 2;

function log(line) {
  process.stderr.write(`msp: ${line}\n`);
}

function report(label, figure) {
  let note = figure.exhausted === true ? ' (ran out of identities: window cut short)' : '';
  if (figure.passes !== undefined) {
    note =
      ` in ${figure.passes} passes over ${figure.identities} identities` +
      ` (warm-up pass on the deserializing Msp: ${figure.warmupPerSec}/s)`;
  }
  log(
    `${label.padEnd(44)} ${String(figure.perSec).padStart(8)}/s ` +
      `(${figure.samples} in ${figure.ms.toFixed(0)} ms)${note}`,
  );
}

function failure(what, error) {
  return new Error(`${what}: ${error.code}: ${error.message}`);
}

/** A Fabric sample MSP as a local (signing) MSP, at the real date if it can be set up then. */
async function loadSample(name) {
  const dir = path.join(testdata, name);
  const atNow = await loadMspFolder(dir, { mspId, local: true, now: new Date() });
  if (atNow.ok) return { msp: atNow.msp, clock: 'now' };
  const atFallback = await loadMspFolder(dir, { mspId, local: true, now: fallbackClock });
  if (!atFallback.ok) throw failure(`${name}`, atFallback.error);
  log(`${name}: ${atNow.error.message}; set up with the clock at ${fallbackClock.toISOString()}`);
  return { msp: atFallback.msp, clock: fallbackClock.toISOString() };
}

async function writeFiles(dir, files) {
  for (const [relative, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, relative)), { recursive: true });
    await writeFile(path.join(dir, relative), text);
  }
}

/**
 * A verifying MSP folder under `dir` with a fresh PKI: `depth` 1 is root → leaf (shaped like
 * sampleconfig-msp), 2 is root → intermediate → leaf (shaped like testdata/intermediate).
 * `load()` sets up a new Msp from it each time: a new, empty validation cache.
 */
async function generatedMsp(dir, depth, now) {
  const base = 'C=US, ST=California, L=San Francisco';
  const root = await createAuthority({
    name: `${base}, O=bench.example.com, OU=COP, CN=ca.bench.example.com`,
    now,
  });
  const files = { 'cacerts/ca.pem': root.pem };
  let issuer = root;
  if (depth === 2) {
    issuer = await createAuthority({ name: `${base}, CN=ica1`, now, issuer: root });
    files['intermediatecerts/ica.pem'] = issuer.pem;
  }
  const leaves = await createLeafFactory(issuer, {
    name: depth === 1 ? `${base}, OU=COP, CN=peer0.bench.example.com` : `${base}, CN=user1`,
    now,
  });
  files['admincerts/admin.pem'] = leaves.issue();
  if (depth === 1) {
    files['config.yaml'] =
      'OrganizationalUnitIdentifiers:\n' +
      '  - Certificate: "cacerts/ca.pem"\n' +
      '    OrganizationalUnitIdentifier: "COP"\n';
  }
  await writeFiles(dir, files);
  return {
    leaves,
    async load() {
      const outcome = await loadMspFolder(dir, { mspId, now });
      if (!outcome.ok) throw failure(`generated MSP (depth ${depth})`, outcome.error);
      return outcome.msp;
    },
  };
}

function deserializer(msp) {
  return (pem) => {
    const outcome = msp.deserializeIdentity(mspId, pem);
    if (!outcome.ok) throw failure('deserializeIdentity', outcome.error);
    return outcome.identity;
  };
}

function validator(msp) {
  return (identity) => {
    const validation = msp.validate(identity);
    if (!validation.valid) throw failure('validate', validation.error);
  };
}

/**
 * Validations of identities the MSP has never seen: the full chain walk each time.
 *
 * Deserializing an identity (parsing its certificate) costs several times a validation, so
 * preparing a fresh identity for every validation of the window would take most of the
 * run. Instead `coldIdentities` distinct identities are deserialized once and validated in
 * passes, each pass against a newly set-up Msp (empty caches) and on shallow copies of the
 * identities (so that no cache keyed by the identity object, such as the OU cache, can
 * carry over). Only validate() calls are timed; the passes add up to the window. The first
 * pass, on the Msp that deserialized the identities, is the warm-up and is reported
 * separately for comparison.
 */
async function coldValidation(generated) {
  const first = await generated.load();
  const deserialize = deserializer(first);
  const identities = Array.from({ length: coldIdentities }, () =>
    deserialize(generated.leaves.issue()),
  );
  const warmup = measureEach(identities, validator(first), { windowMs: Infinity });
  const budget = BigInt(Math.round(windowMs * 1e6));
  let ns = 0n;
  let samples = 0;
  let passes = 0;
  while (ns < budget) {
    const validate = validator(await generated.load());
    const copies = identities.map((identity) => ({ ...identity }));
    const pass = measureEach(copies, validate, { windowMs: Number(budget - ns) / 1e6 });
    ns += pass.ns;
    samples += pass.samples;
    passes += 1;
  }
  return {
    perSec: perSecond(samples, ns),
    samples,
    ms: Number(ns) / 1e6,
    passes,
    identities: identities.length,
    warmupPerSec: warmup.perSec,
  };
}

/** deserializeIdentity + validate of a PEM never seen before, as for an incoming request. */
async function deserializeValidation(generated) {
  const msp = await generated.load();
  const deserialize = deserializer(msp);
  const validate = validator(msp);
  const op = (pem) => validate(deserialize(pem));
  const fresh = (count) => Array.from({ length: count }, () => generated.leaves.issue());
  const estimate = measureEach(fresh(deserializeWarmupPems), op, { windowMs: warmupMs });
  const needed = Math.ceil(((estimate.perSec * windowMs) / 1000) * poolSlack) + 16;
  return measureEach(fresh(needed), op, { windowMs });
}

function warmValidation(msp) {
  const identity = msp.signingIdentity.identity;
  const validate = validator(msp);
  validate(identity);
  return measure(() => validate(identity), { windowMs, warmupMs });
}

async function main() {
  const started = process.hrtime.bigint();
  const sample = await loadSample('sampleconfig-msp');
  const intermediate = await loadSample('intermediate');
  log(`MSP ${sample.msp.version}, window ${windowMs} ms after ${warmupMs} ms warm-up`);

  const now = new Date();
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'coffer-bench-msp-'));
  const figures = {};
  const samples = {};
  const record = (key, label, figure) => {
    report(label, figure);
    figures[key] = figure.perSec;
    samples[key.replace(/PerSec$/, '')] = figure.samples;
  };
  try {
    const oneLevel = await generatedMsp(path.join(tmp, 'one-level'), 1, now);
    const twoLevel = await generatedMsp(path.join(tmp, 'two-level'), 2, now);
    record(
      'validateColdPerSec',
      'validate, cold (root → leaf, OU check)',
      await coldValidation(oneLevel),
    );
    record(
      'validateColdIntermediatePerSec',
      'validate, cold (root → intermediate → leaf)',
      await coldValidation(twoLevel),
    );
    record(
      'deserializeValidatePerSec',
      'deserialize + validate, fresh PEM (root → leaf)',
      await deserializeValidation(oneLevel),
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }

  record('validateWarmPerSec', 'validate, cached (sampleconfig-msp)', warmValidation(sample.msp));
  record(
    'validateWarmIntermediatePerSec',
    'validate, cached (testdata/intermediate)',
    warmValidation(intermediate.msp),
  );

  const signer = sample.msp.signingIdentity;
  const identity = signer.identity;
  const message = randomBytes(messageBytes);
  const signature = Buffer.from(signer.sign(message));
  const publicKey = identity.cert.publicKey;
  const viaMsp = () => {
    const check = sample.msp.verify(identity, message, signature);
    if (!check.ok) throw failure('verify', check.error);
  };
  const raw = () => {
    if (!nodeVerify('sha256', message, publicKey, signature)) throw new Error('raw verify failed');
  };
  const [mspVerify, rawVerify] = measureInterleaved([viaMsp, raw], {
    windowMs,
    warmupMs,
    rounds: 6,
  });
  record('mspVerifyPerSec', 'msp.verify (ECDSA P-256, 1 KiB)', mspVerify);
  record('rawVerifyPerSec', 'node:crypto verify, same key/message/signature', rawVerify);
  figures.verifyOverheadRatio =
    mspVerify.perSec === 0 ? null : Math.round((rawVerify.perSec / mspVerify.perSec) * 100) / 100;
  log(`msp.verify takes ${figures.verifyOverheadRatio}× the time of a raw verify`);

  record(
    'signPerSec',
    'signingIdentity.sign (low-S DER, 1 KiB)',
    measure(() => signer.sign(message), { windowMs, warmupMs }),
  );

  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  log(`done in ${seconds.toFixed(1)} s`);
  const result = {
    ...figures,
    samples,
    windowMs,
    coldIdentities,
    messageBytes,
    curve: 'P-256',
    mspVersion: sample.msp.version,
    clock:
      sample.clock === intermediate.clock ? sample.clock : `${sample.clock}/${intermediate.clock}`,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
