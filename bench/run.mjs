// Runs the benchmarks: `npm run build` once (benchmarks import dist/), then each
// bench/<name>.mjs as a child process, one after the other so they do not compete for the
// CPUs. Each child prints a JSON object on its last stdout line; this prints one JSON line
// with all of them last: {"<name>": {...}, "node": ..., "cpus": ..., "at": ...}.
//
//   node bench/run.mjs           every benchmark
//   node bench/run.mjs msp ...   the named ones
//
// Progress and the children's stderr go to stderr. Exit status 1 if a benchmark failed (its
// entry is then {"error": ...}), 2 for a bad name or a build that produced no output.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
/** A benchmark that runs longer than this is killed and reported as failed. */
const childTimeoutMs = 120_000;

function log(line) {
  process.stderr.write(`bench: ${line}\n`);
}

/** Benchmarks are the .mjs files directly in bench/ other than this runner. */
function available() {
  return readdirSync(benchDir)
    .filter((name) => name.endsWith('.mjs') && name !== 'run.mjs')
    .map((name) => name.slice(0, -'.mjs'.length))
    .sort();
}

function sourcesOf(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourcesOf(file);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

/** True when tsc wrote dist/ for every source file during this build (at or after `since`). */
function distIsFresh(sinceMs) {
  const src = path.join(repoRoot, 'src');
  return sourcesOf(src).every((file) => {
    const out = path.join(repoRoot, 'dist', path.relative(src, file)).replace(/\.ts$/, '.js');
    try {
      return statSync(out).mtimeMs >= sinceMs;
    } catch {
      return false;
    }
  });
}

/**
 * `npm run build`, its output on stderr. tsc still writes dist/ when it reports type errors;
 * with other work in progress in src/ that is common, so the benchmarks then run on that
 * output with a warning, provided every file was written by this build (never a stale dist/).
 */
function build() {
  const started = Date.now() - 1000; // file times may be coarser than the clock
  log('npm run build');
  const result = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, stdio: ['ignore', 2, 2] });
  if (result.error !== undefined) throw result.error;
  if (result.status === 0) return 'ok';
  if (distIsFresh(started)) {
    log('WARNING: the build reported errors (above); running on the dist/ it emitted');
    return 'errors';
  }
  log(`the build failed (exit ${result.status}) and did not write dist/`);
  process.exit(2);
}

function lastLine(text) {
  const lines = text.split('\n').filter((line) => line.trim().length > 0);
  return lines[lines.length - 1];
}

function runOne(name) {
  log(`${name}: running`);
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [path.join(benchDir, `${name}.mjs`)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 2],
    encoding: 'utf8',
    timeout: childTimeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
  const seconds = (Number(process.hrtime.bigint() - started) / 1e9).toFixed(1);
  if (result.error !== undefined) return { error: `${result.error.message} after ${seconds} s` };
  if (result.status !== 0) {
    return { error: `exited with ${result.status ?? result.signal} after ${seconds} s` };
  }
  const line = lastLine(result.stdout ?? '');
  try {
    const figures = JSON.parse(line ?? '');
    if (typeof figures !== 'object' || figures === null || Array.isArray(figures)) {
      return { error: 'the last stdout line is not a JSON object' };
    }
    log(`${name}: done in ${seconds} s`);
    return figures;
  } catch {
    return { error: 'the last stdout line is not JSON' };
  }
}

function main() {
  const known = available();
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    log(`unknown benchmark ${unknown.join(', ')}; available: ${known.join(', ')}`);
    process.exit(2);
  }
  const names = wanted.length > 0 ? [...new Set(wanted)] : known;
  const loadAtStart = os.loadavg()[0];
  const buildOutcome = build();
  const results = {};
  let failed = false;
  for (const name of names) {
    results[name] = runOne(name);
    if ('error' in results[name]) {
      failed = true;
      log(`${name}: FAILED: ${results[name].error}`);
    }
  }
  const summary = {
    ...results,
    node: process.version,
    cpus: os.availableParallelism(),
    at: new Date().toISOString(),
    // Other work on the machine slows every figure: the 1-minute load average at the start.
    loadAverage: Math.round(loadAtStart * 100) / 100,
    build: buildOutcome,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (failed) process.exitCode = 1;
}

main();
