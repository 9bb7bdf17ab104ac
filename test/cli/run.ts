// Runs the real `bin/coffer` as a child process, the way users and other programs do.
import { execFile } from 'node:child_process';
import path from 'node:path';

export const coffer = path.resolve(import.meta.dirname, '../../bin/coffer');

export type Run = { code: number; stdout: string; stderr: string };

export function runCoffer(args: readonly string[], cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(coffer, [...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}
