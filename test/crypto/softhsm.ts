// A real SoftHSM2 for tests: a temporary token folder of its own, tokens initialised with
// softhsm2-util, and the module path Debian installs (scripts/test.sh installs softhsm2 when
// missing). SOFTHSM2_CONF is read when the module is initialised: set it before opening a store,
// and initialise every token a test file needs before the first store opens.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Pkcs11Module from 'pkcs11js';

const pkcs11 = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11Module;

/** Where Debian's softhsm2 package puts the module (the first that exists is used). */
const libraryPaths = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
];

export function softHsmLibrary(): string {
  const found = libraryPaths.find((each) => existsSync(each));
  if (found === undefined) {
    throw new Error(
      `libsofthsm2.so not found in ${libraryPaths.join(', ')}: install Debian's softhsm2 (npm test does)`,
    );
  }
  return found;
}

export const userPin = '1234-user-pin';
export const soPin = '5678-so-pin';

export type SoftHsm = {
  readonly dir: string;
  readonly conf: string;
  readonly library: string;
  readonly cleanup: () => Promise<void>;
};

/** A SoftHSM2 configuration with its own token folder; sets SOFTHSM2_CONF for this process. */
export async function createSoftHsm(tokens: readonly string[]): Promise<SoftHsm> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-softhsm-'));
  const tokenDir = path.join(dir, 'tokens');
  await mkdir(tokenDir);
  const conf = path.join(dir, 'softhsm2.conf');
  await writeFile(
    conf,
    `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`,
  );
  process.env['SOFTHSM2_CONF'] = conf;
  for (const label of tokens) {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', label, '--pin', userPin, '--so-pin', soPin],
      { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'pipe' },
    );
  }
  return {
    dir,
    conf,
    library: softHsmLibrary(),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Makes an EC key pair on a token with chosen private-key attributes through a raw PKCS#11
 * view of the module in this process, bypassing the key store (as an attacker or a careless
 * administrator with the PIN could). Returns the handles for further changes.
 */
export function makeRawEcKey(
  library: string,
  tokenLabel: string,
  id: string,
  privateAttributes: Pkcs11Module.Template,
): { module: Pkcs11Module.PKCS11; session: Buffer; privateKey: Buffer; slot: Buffer } {
  const { module, slot, session } = rawToken(library, tokenLabel);
  const common = [
    { type: pkcs11.CKA_KEY_TYPE, value: pkcs11.CKK_EC },
    { type: pkcs11.CKA_TOKEN, value: true },
    { type: pkcs11.CKA_LABEL, value: `raw ${id}` },
    { type: pkcs11.CKA_ID, value: Buffer.from(id, 'hex') },
  ];
  const pair = module.C_GenerateKeyPair(
    session,
    { mechanism: pkcs11.CKM_EC_KEY_PAIR_GEN },
    [
      ...common,
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PUBLIC_KEY },
      { type: pkcs11.CKA_VERIFY, value: true },
      // secp256k1 (SEC 2 OID 1.3.132.0.10)
      { type: pkcs11.CKA_EC_PARAMS, value: Buffer.from('06052b8104000a', 'hex') },
    ],
    [
      ...common,
      { type: pkcs11.CKA_CLASS, value: pkcs11.CKO_PRIVATE_KEY },
      { type: pkcs11.CKA_PRIVATE, value: true },
      { type: pkcs11.CKA_SIGN, value: true },
      ...privateAttributes,
    ],
  );
  return { module, slot, session, privateKey: pair.privateKey };
}

/**
 * A raw PKCS#11 session on a token in this process. The module is shared with any key store
 * of this process (C_Initialize is process-wide), so it is never finalised here.
 */
export function rawToken(
  library: string,
  label: string,
): { module: Pkcs11Module.PKCS11; slot: Buffer; session: Buffer } {
  const module = new pkcs11.PKCS11();
  module.load(library);
  try {
    module.C_Initialize();
  } catch (error) {
    if (!(error as Error).message.startsWith('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw error;
  }
  const slot = module
    .C_GetSlotList(true)
    .find((each) => module.C_GetTokenInfo(each).label.trim() === label);
  if (slot === undefined) throw new Error(`no token ${label}`);
  const session = module.C_OpenSession(slot, pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION);
  try {
    module.C_Login(session, pkcs11.CKU_USER, userPin);
  } catch (error) {
    if (!(error as Error).message.startsWith('CKR_USER_ALREADY_LOGGED_IN')) throw error;
  }
  return { module, slot, session };
}
