// What the governance pages read from the node: the `gov` app's queries (src/governance/app.ts)
// and the node's status (types in types.ts).
import { api, query } from '../../lib/api.js';
import type {
  CheckAnswer,
  GovAction,
  GovConfig,
  JoinRequest,
  NodeStatus,
  Proposal,
  Verdicts,
} from './types.js';

export type * from './types.js';

export const gov = {
  proposals: (limit = 100) =>
    query<{ proposals: Proposal[] }>('gov', 'proposals', { limit }).then((a) => a.proposals),
  proposal: (id: string) => query<Proposal>('gov', 'proposal', { id }),
  verdicts: (ids?: readonly string[]) =>
    query<Verdicts>('gov', 'verdicts', ids === undefined ? {} : { ids: [...ids] }),
  config: () => query<GovConfig>('gov', 'config'),
  joins: () => query<{ joins: JoinRequest[] }>('gov', 'joins').then((a) => a.joins),
  check: (actions: readonly GovAction[], expiresInMs?: number) =>
    query<CheckAnswer>('gov', 'check', {
      actions: [...actions],
      ...(expiresInMs === undefined ? {} : { expiresInMs }),
    }),
  status: () => api<NodeStatus>('GET', '/v1/status'),
};

/** How often the pages re-read live data. */
export const refreshMs = 5000;
