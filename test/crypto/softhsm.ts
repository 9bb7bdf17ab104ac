// A real SoftHSM2 for tests: a temporary token folder of its own, tokens initialised with
// softhsm2-util, and the module path Debian installs (scripts/test.sh installs softhsm2 when
// missing). SOFTHSM2_CONF is read when the module is initialised: set it before opening a store,
// and initialise every token a test file needs before the first store opens.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

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
