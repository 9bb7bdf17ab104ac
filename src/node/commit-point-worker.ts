// The commit-point worker (commit-point.ts): computes one commit point's digest, writes its
// snapshot file, posts the outcome back and is ended. It runs at a lower priority than the
// node's other threads (a Linux thread has a nice value of its own): verification and the main
// thread come first, and the evidence entry comes seconds later (evidenceDelayMs).
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { makeCommitPoint, type CommitPointInput } from './commit-point.js';

/** The worker thread's nice value. */
const backgroundNice = 10;

try {
  setPriority(0, backgroundNice);
} catch {
  // Not allowed here: it runs at the node's priority.
}

parentPort?.once('message', (input: CommitPointInput) => {
  makeCommitPoint(input).then(
    (made) => parentPort?.postMessage(made),
    (error: unknown) => parentPort?.postMessage({ error: String(error) }),
  );
});
