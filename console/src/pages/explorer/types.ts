// What the node's explorer routes answer: the node's own types (dependency-free), so the page
// and the node cannot drift apart.
export type {
  BatchesAnswer,
  BatchSummary,
  EntriesAnswer,
  EntrySummary,
  MetricsAnswer,
  MetricsPoint,
  SearchAnswer,
} from '../../../../src/node/explorer-types.js';
