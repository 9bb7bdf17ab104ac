// The governance area's hash routes, parsed (pure; index.tsx lists them).
export type GovRoute =
  | { readonly page: 'proposals' }
  | { readonly page: 'proposal'; readonly id: string }
  | {
      readonly page: 'propose';
      readonly preset?: { readonly kind: 'msp' | 'admit'; readonly value: string };
    }
  | { readonly page: 'organisations' }
  | { readonly page: 'nodes' }
  | { readonly page: 'unknown' };

const proposalId = /^[0-9a-f]{64}$/;

export function govRouteOf(route: readonly string[]): GovRoute {
  const [page, first, second, ...rest] = route;
  if (rest.length > 0) return { page: 'unknown' };
  if (page === undefined || (page === 'proposals' && first === undefined))
    return { page: 'proposals' };
  if (page === 'proposals' && first !== undefined && second === undefined)
    return proposalId.test(first) ? { page: 'proposal', id: first } : { page: 'unknown' };
  if (page === 'propose') {
    if (first === undefined) return { page: 'propose' };
    if ((first === 'msp' || first === 'admit') && second !== undefined && second !== '')
      return { page: 'propose', preset: { kind: first, value: second } };
    return { page: 'unknown' };
  }
  if ((page === 'organisations' || page === 'nodes') && first === undefined) return { page };
  return { page: 'unknown' };
}
