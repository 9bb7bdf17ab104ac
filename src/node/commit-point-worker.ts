// The commit-point worker (commit-point.ts): computes one commit point's snapshot and digest,
// posts them back and is ended.
import { parentPort } from 'node:worker_threads';
import { computeCommitPoint, transferable, type CommitPointInput } from './commit-point.js';

parentPort?.once('message', (input: CommitPointInput) => {
  try {
    const { result, transfer } = transferable(computeCommitPoint(input));
    parentPort?.postMessage(result, transfer);
  } catch (error) {
    parentPort?.postMessage({ error: String(error) });
  }
});
