// Join requests (issue 6): a node the consortium has not admitted asks to join with a
// transaction signed by its own peer identity, naming its node id and the code id it runs
// (with its attestation provider and evidence, if any). Member admins then propose admit_node
// (and allow_code) for it; the request is the record of what the node claimed.
import type { ActionContext, KvView } from '../contracts/index.js';
import { cofferError } from '../errors/index.js';
import { canonicalString } from '../ledger/canonical.js';
import {
  badFieldOf,
  codeIdPattern,
  idPattern,
  nodeUrlPattern,
  objectAt,
  onlyKeys,
  stringAt,
  type BadField,
} from './check.js';
import { readGovConfig } from './config.js';
import { idCharsMax, joinEvidenceCharsMax, joinRequestsMax, nodeUrlCharsMax } from './limits.js';

/** Join requests by node id, and the index of node ids (key `index`). */
export const govJoinsMap = 'public:gov.joins';
const indexKey = '~index';
const providerPattern = /^[a-z][a-z0-9-]{0,31}$/;
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

export type JoinRequest = {
  readonly nodeId: string;
  readonly mspId: string;
  /** Fabric identity id of the peer certificate that signed the request. */
  readonly identityId: string;
  readonly codeId: string;
  readonly provider: string;
  readonly evidence?: string;
  /** Where the node's API listens (https://host:port), for admit_node to record. */
  readonly url?: string;
  readonly requestedAt: number;
  readonly txId: string;
};

const badArgs: BadField = badFieldOf('GOV_E_INVALID_ARGS');

function readIndex(kv: KvView): string[] {
  const text = kv.get(govJoinsMap, indexKey);
  return text === undefined ? [] : (JSON.parse(text) as string[]);
}

/** `gov join`: a peer identity of a member's MSP asks for its node to be admitted. */
export function requestJoin(
  context: ActionContext,
  args: Readonly<Record<string, unknown>>,
): unknown {
  onlyKeys(args, ['nodeId', 'codeId', 'provider', 'evidence', 'url'], 'args', badArgs);
  const nodeId = stringAt(args['nodeId'], 'args.nodeId', idPattern, idCharsMax, badArgs);
  const codeId = stringAt(args['codeId'], 'args.codeId', codeIdPattern, 64, badArgs);
  const provider = stringAt(args['provider'], 'args.provider', providerPattern, 32, badArgs);
  const evidence =
    args['evidence'] === undefined
      ? undefined
      : stringAt(args['evidence'], 'args.evidence', base64Pattern, joinEvidenceCharsMax, badArgs);
  const url =
    args['url'] === undefined
      ? undefined
      : stringAt(args['url'], 'args.url', nodeUrlPattern, nodeUrlCharsMax, badArgs);
  const { caller } = context;
  if (caller.role !== 'peer') {
    throw cofferError(
      'GOV_E_JOIN_INVALID',
      `a join request is signed by the node's own peer identity; ${caller.mspId} identity ${caller.identityId.slice(0, 16)}… is a ${caller.role ?? 'role-less'} identity`,
    );
  }
  const config = readGovConfig(context.kv.get);
  const existing = config?.nodes[nodeId];
  if (existing !== undefined && existing.mspId !== caller.mspId) {
    throw cofferError(
      'GOV_E_JOIN_INVALID',
      `node id ${nodeId} belongs to ${existing.mspId}; a peer of ${caller.mspId} cannot ask for it`,
      { nodeId },
    );
  }
  const index = readIndex(context.kv);
  if (!index.includes(nodeId)) {
    if (index.length >= joinRequestsMax) {
      throw cofferError(
        'GOV_E_LIMIT',
        `${index.length} join requests are recorded; at most joinRequestsMax (${joinRequestsMax})`,
        { limit: 'joinRequestsMax' },
      );
    }
    context.kv.put(govJoinsMap, indexKey, JSON.stringify([...index, nodeId].sort()));
  }
  const request: JoinRequest = {
    nodeId,
    mspId: caller.mspId,
    identityId: caller.identityId,
    codeId,
    provider,
    ...(evidence === undefined ? {} : { evidence }),
    ...(url === undefined ? {} : { url }),
    requestedAt: context.time,
    txId: context.txId,
  };
  context.kv.put(govJoinsMap, nodeId, canonicalString(request));
  return { ...request, admitted: existing?.status === 'admitted' };
}

/** The recorded join requests, each with whether the node is admitted now. */
export function listJoins(kv: KvView, args: Readonly<Record<string, unknown>>): unknown {
  onlyKeys(objectAt(args, 'args', badArgs), [], 'args', badArgs);
  const config = readGovConfig(kv.get);
  const joins = readIndex(kv).flatMap((nodeId) => {
    const text = kv.get(govJoinsMap, nodeId);
    if (text === undefined) return [];
    const request = JSON.parse(text) as JoinRequest;
    const node = config?.nodes[nodeId];
    return [
      {
        ...request,
        admitted: node?.status === 'admitted' && node.mspId === request.mspId,
        codeAllowed: config?.codes.includes(request.codeId) ?? false,
      },
    ];
  });
  return { joins };
}
