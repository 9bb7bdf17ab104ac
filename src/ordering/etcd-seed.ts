// The mirror of a node that joins from a snapshot (decision 0027): it never holds the batches
// before the snapshot's position, so it starts after it, with the batches the joining node
// fetched from a peer and checked against signed roots (snapshot-join.ts). The etcd log then
// opens it with the same first position and follows etcd from the last one's revision.
import { cofferError } from '../errors/index.js';
import { openEmbeddedLog } from './embedded.js';
import { etcdBatchBytesMax, mirrorHeaderBytes } from './etcd-limits.js';
import { encodeMirrorRecord, mirrorEntriesProblem, type MirrorEntry } from './etcd-mirror.js';
import type { Storage } from './storage.js';

/** Batches a seeded mirror starts with, at most. */
export const seedBatchesMax = 4096;

/**
 * Writes `entries` (consecutive positions from `firstPosition`, revisions increasing) into a new
 * mirror in `mirrorDir`, durably. The folder must hold no mirror yet.
 */
export async function seedMirror(
  mirrorDir: string,
  firstPosition: number,
  entries: readonly MirrorEntry[],
  options: { readonly storage?: Storage; readonly fsync?: boolean } = {},
): Promise<void> {
  const refuse = (reason: string): Error =>
    cofferError('ORDERING_E_PEER_ENTRIES', `seeding the mirror: ${reason}`, { firstPosition });
  if (entries.length === 0 || entries.length > seedBatchesMax) {
    throw refuse(`give 1 to ${seedBatchesMax} entries, not ${entries.length}`);
  }
  const problem = mirrorEntriesProblem(entries, { position: firstPosition - 1, revision: 0 });
  if (problem !== undefined) throw refuse(problem.reason);
  const mirror = await openEmbeddedLog(mirrorDir, {
    ...options,
    firstPosition,
    batchBytesMax: etcdBatchBytesMax + mirrorHeaderBytes,
  });
  try {
    if (mirror.committedPosition() !== firstPosition - 1) {
      throw refuse(`${mirrorDir} already holds a mirror through ${mirror.committedPosition()}`);
    }
    const appended = await Promise.all(
      entries.map((entry) => mirror.append(encodeMirrorRecord(entry.revision, entry.batch))),
    );
    for (const [index, position] of appended.entries()) {
      if (position !== firstPosition + index) throw refuse('the mirror took another position');
    }
  } finally {
    await mirror.close();
  }
}
