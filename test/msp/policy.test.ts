// Fabric signature policies: parser vectors from Fabric's common/policydsl/policyparser_test.go,
// a round-trip property, and cauthdsl evaluation checked against a brute-force reference
// (STYLE.md 11) plus scenarios, including the cases where Fabric's greedy evaluation fails.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  errorRegistry,
  isCofferError,
  type CofferError,
  type ErrorCode,
} from '../../src/errors/index.js';
import {
  evaluatePolicy,
  formatPolicy,
  parsePolicy,
  policyDepthMax,
  policyPrincipalsMax,
  policyRulesMax,
  policyTextBytesMax,
  type Rule,
  type SignaturePolicy,
  type SignedIdentity,
} from '../../src/msp/policy.js';
import type { MspRoleName, Principal } from '../../src/msp/types.js';

// --- helpers ----------------------------------------------------------------------------------

const role = (mspId: string, r: MspRoleName): Principal => ({ type: 'ROLE', mspId, role: r });
const by = (signedBy: number): Rule => ({ signedBy });
const outOf = (n: number, ...rules: Rule[]): Rule => ({ nOutOf: { n, rules } });
const envelope = (rule: Rule, identities: Principal[]): SignaturePolicy => ({
  version: 0,
  rule,
  identities,
});

function thrown(fn: () => unknown): CofferError {
  try {
    fn();
  } catch (error) {
    if (isCofferError(error)) return error;
    throw error;
  }
  throw new Error('expected a CofferError, nothing was thrown');
}

function expectCode(fn: () => unknown, code: ErrorCode): CofferError {
  const error = thrown(fn);
  expect(error.code).toBe(code);
  return error;
}

type Signer = SignedIdentity & { readonly mspId: string; readonly roles: readonly MspRoleName[] };

const signer = (key: string, mspId: string, ...roles: MspRoleName[]): Signer => ({
  key,
  mspId,
  roles,
});

/** The MSP's job in production; here a signer satisfies the ROLE principals it lists. */
function satisfiesRole(s: Signer, principal: Principal): boolean {
  return (
    principal.type === 'ROLE' &&
    principal.mspId === s.mspId &&
    s.roles.includes(principal.role as MspRoleName)
  );
}

function evaluate(text: string, signers: readonly Signer[]): boolean {
  return evaluatePolicy(parsePolicy(text), signers, satisfiesRole);
}

// --- naive reference (STYLE.md 11) ------------------------------------------------------------

/**
 * Is there any way to give distinct signers to leaves so that the rule holds? Tries every
 * partial one-to-one assignment of (deduplicated) signers to leaves; no cleverness.
 */
function referenceSatisfiable<T extends SignedIdentity>(
  policy: SignaturePolicy,
  signers: readonly T[],
  satisfies: (signer: T, principal: Principal) => boolean,
): boolean {
  const unique = signers.filter((s, i) => signers.findIndex((t) => t.key === s.key) === i);
  const leaves: Principal[] = [];
  const collect = (rule: Rule): void => {
    if ('signedBy' in rule) leaves.push(policy.identities[rule.signedBy] as Principal);
    else rule.nOutOf.rules.forEach(collect);
  };
  collect(policy.rule);

  const assignment: (T | undefined)[] = [];
  const holds = (): boolean => {
    let leaf = 0;
    const value = (rule: Rule): boolean => {
      if ('signedBy' in rule) {
        const principal = leaves[leaf];
        const s = assignment[leaf];
        leaf++;
        return s !== undefined && principal !== undefined && satisfies(s, principal);
      }
      const results = rule.nOutOf.rules.map(value);
      return results.filter(Boolean).length >= rule.nOutOf.n;
    };
    return value(policy.rule);
  };
  const search = (i: number): boolean => {
    if (i === leaves.length) return holds();
    for (const s of [undefined, ...unique]) {
      if (s !== undefined && assignment.includes(s)) continue;
      assignment[i] = s;
      if (search(i + 1)) return true;
    }
    assignment.length = i;
    return false;
  };
  return search(0);
}

// --- parsing: Fabric's vectors ----------------------------------------------------------------

describe('parsePolicy: Fabric policyparser_test.go vectors', () => {
  const A = role('A', 'MEMBER');
  const B = role('B', 'MEMBER');

  it.each([
    ["OutOf(1, 'A.member', 'B.member')", envelope(outOf(1, by(0), by(1)), [A, B])],
    ["OutOf(2, 'A.member', 'B.member')", envelope(outOf(2, by(0), by(1)), [A, B])],
    ["AND('A.member', 'B.member')", envelope(outOf(2, by(0), by(1)), [A, B])],
    [
      "AND('A.client', 'B.peer')",
      envelope(outOf(2, by(0), by(1)), [role('A', 'CLIENT'), role('B', 'PEER')]),
    ],
    ["OR('A.member', 'B.member')", envelope(outOf(1, by(0), by(1)), [A, B])],
    // TestComplex1: nested gates number their principals before the parent's own.
    [
      "OR('A.member', AND('B.member', 'C.member'))",
      envelope(outOf(1, by(2), outOf(2, by(0), by(1))), [B, role('C', 'MEMBER'), A]),
    ],
    [
      "OR(AND('A.member', 'B.member'), OR('C.admin', 'D.member'))",
      envelope(outOf(1, outOf(2, by(0), by(1)), outOf(1, by(2), by(3))), [
        A,
        B,
        role('C', 'ADMIN'),
        role('D', 'MEMBER'),
      ]),
    ],
    [
      "OR('MSP.member', 'MSP.WITH.DOTS.member', 'MSP-WITH-DASHES.member')",
      envelope(outOf(1, by(0), by(1), by(2)), [
        role('MSP', 'MEMBER'),
        role('MSP.WITH.DOTS', 'MEMBER'),
        role('MSP-WITH-DASHES', 'MEMBER'),
      ]),
    ],
    [
      "OR('A.peer', 'B.admin', 'C.orderer', 'D.client')",
      envelope(outOf(1, by(0), by(1), by(2), by(3)), [
        role('A', 'PEER'),
        role('B', 'ADMIN'),
        role('C', 'ORDERER'),
        role('D', 'CLIENT'),
      ]),
    ],
    // TestOutOfNumIsString.
    ["OutOf('1', 'A.member', 'B.member')", envelope(outOf(1, by(0), by(1)), [A, B])],
    // TestSecondPassBoundaryCheck: n = 0 (always satisfied) and n = rules + 1 (never) are legal.
    ["OutOf(0, 'A.member', 'B.member')", envelope(outOf(0, by(0), by(1)), [A, B])],
    ["OutOf(3, 'A.member', 'B.member')", envelope(outOf(3, by(0), by(1)), [A, B])],
  ])('%s', (text, expected) => {
    expect(parsePolicy(text)).toEqual(expected);
  });

  it('accepts the gate spellings Fabric registers, and no others', () => {
    for (const and of ['And', 'and', 'AND']) {
      expect(parsePolicy(`${and}('A.member', 'B.member')`).rule).toEqual(outOf(2, by(0), by(1)));
    }
    for (const or of ['Or', 'or', 'OR']) {
      expect(parsePolicy(`${or}('A.member', 'B.member')`).rule).toEqual(outOf(1, by(0), by(1)));
    }
    for (const out of ['OutOf', 'outof', 'OUTOF']) {
      expect(parsePolicy(`${out}(1, 'A.member')`).rule).toEqual(outOf(1, by(0)));
    }
    for (const wrong of ['aNd', 'oR', 'Outof', 'OutOF', 'NOutOf']) {
      expectCode(() => parsePolicy(`${wrong}(1, 'A.member')`), 'POLICY_E_SYNTAX');
    }
  });

  it('accepts double quotes, whitespace, grouping parentheses and escapes as govaluate does', () => {
    const expected = parsePolicy("OR('A.member', AND('B.admin', 'C.peer'))");
    for (const text of [
      'OR("A.member", AND("B.admin", "C.peer"))',
      " \n\tOR ( 'A.member' ,AND(\n  'B.admin',\r\n  'C.peer'\n) )\n",
      "(OR(('A.member'), (AND('B.admin', 'C.peer'))))",
      "OR('A\\.member', AND('B.\\admin', 'C.peer'))",
      // govaluate ends a string at the next quote of either kind.
      "OR('A.member\", AND(\"B.admin', 'C.peer'))",
    ]) {
      expect(parsePolicy(text)).toEqual(expected);
    }
    expect(parsePolicy("OutOf(( '2' ), 'A.member', 'B.member')").rule).toEqual(
      outOf(2, by(0), by(1)),
    );
    expect(parsePolicy("OutOf(002, 'A.member', 'B.member')").rule).toEqual(outOf(2, by(0), by(1)));
  });

  it('splits the MSP ID at the last dot, as the greedy regex of policyparser.go', () => {
    expect(parsePolicy("OR('A.admin.member', '..peer')").identities).toEqual([
      role('A.admin', 'MEMBER'),
      role('.', 'PEER'),
    ]);
  });

  it('gives equal principals one identity (Fabric appends one per occurrence)', () => {
    expect(parsePolicy("AND('A.member', OR('B.admin', 'A.member'), 'A.member')")).toEqual(
      envelope(outOf(3, by(1), outOf(1, by(0), by(1)), by(1)), [
        role('B', 'ADMIN'),
        role('A', 'MEMBER'),
      ]),
    );
  });
});

describe('parsePolicy: malformed policies name the position and what was expected', () => {
  it.each([
    ['', 0, 'quoted principal'],
    ['   ', 3, 'quoted principal'],
    ["OR('A.member', Bmember)", 15, 'Bmember'],
    ["OR('A.member', 'Bmember')", 15, "'MSPID.role'"],
    ['OutOf(1)', 7, "','"],
    ["OutOf(true, 'A.member')", 6, 'whole number'],
    ['OutOf(1, 2)', 9, 'number is only allowed as n'],
    ["OutOf('x', 'A.member')", 6, 'whole number'],
    ["OutOf(1.5, 'A.member')", 6, 'whole number'],
    ["OutOf(-1, 'A.member', 'B.member')", 6, 'n >= 0'],
    ["OutOf(4, 'A.member', 'B.member')", 6, 'n from 0 to 3'],
    ["OR('A.member',)", 14, 'quoted principal'],
    ["OR('A.member'", 13, "',' or ')'"],
    ["OR('A.member')x", 14, 'end of the policy'],
    ["OR('A.member' 'B.member')", 14, "',' or ')'"],
    ["aNd('A.member')", 0, 'the spellings Fabric accepts'],
    ["OR('A.Admin')", 3, 'lowercase role'],
    ["OR('A_B.member')", 3, 'MSP ID of letters'],
    ["OR('A.b c.member')", 3, 'MSP ID of letters'],
    ["OR('member')", 3, "'MSPID.role'"],
    ['OR()', 3, 'at least one principal'],
    ["OR 'A.member'", 3, "'('"],
    ["OR('A.member", 3, 'closing quote'],
    ["OR('A.member\\", 3, 'closing quote'],
    ["'A.member'", 0, 'not a lone principal'],
    ["(OR('A.member')", 15, "')'"],
  ])('%j fails at %i', (text, position, expected) => {
    const error = expectCode(() => parsePolicy(text), 'POLICY_E_SYNTAX');
    expect(error.name).toBe('PolicySyntaxError');
    expect(error.details['position']).toBe(position);
    expect(error.message).toContain(`at position ${position}:`);
    expect(error.message).toContain(expected);
  });
});

describe('parsePolicy: limits', () => {
  const chain = (depth: number): string => (depth === 0 ? "'A.member'" : `OR(${chain(depth - 1)})`);

  it(`refuses text over ${policyTextBytesMax} bytes, counted in UTF-8`, () => {
    const padded = (size: number): string => `OR('A.member'${' '.repeat(size - 14)})`;
    expect(parsePolicy(padded(policyTextBytesMax)).identities).toHaveLength(1);
    const error = expectCode(() => parsePolicy(padded(policyTextBytesMax + 1)), 'POLICY_E_LIMIT');
    expect(error.details['limit']).toBe('policyTextBytesMax');
    // Fewer UTF-16 units than the limit, more bytes.
    const wide = `OR('${'é'.repeat(policyTextBytesMax / 2)}.member')`;
    expect(wide.length).toBeLessThan(policyTextBytesMax);
    expect(expectCode(() => parsePolicy(wide), 'POLICY_E_LIMIT').details['limit']).toBe(
      'policyTextBytesMax',
    );
  });

  it(`refuses nesting deeper than ${policyDepthMax}, parentheses included`, () => {
    expect(() => parsePolicy(chain(policyDepthMax))).not.toThrow();
    const error = expectCode(() => parsePolicy(chain(policyDepthMax + 1)), 'POLICY_E_LIMIT');
    expect(error.details['limit']).toBe('policyDepthMax');
    expect(
      expectCode(() => parsePolicy(`(${chain(policyDepthMax)})`), 'POLICY_E_LIMIT').details[
        'limit'
      ],
    ).toBe('policyDepthMax');
  });

  it(`refuses more than ${policyRulesMax} rules`, () => {
    const or = (count: number): string => `OR(${Array(count).fill("'A.member'").join(',')})`;
    expect(() => parsePolicy(or(policyRulesMax - 1))).not.toThrow();
    const error = expectCode(() => parsePolicy(or(policyRulesMax)), 'POLICY_E_LIMIT');
    expect(error.details['limit']).toBe('policyRulesMax');
  });

  it(`refuses more than ${policyPrincipalsMax} distinct principals`, () => {
    const or = (count: number): string =>
      `OR(${Array.from({ length: count }, (_, i) => `'O${i}.peer'`).join(',')})`;
    expect(parsePolicy(or(policyPrincipalsMax)).identities).toHaveLength(policyPrincipalsMax);
    const error = expectCode(() => parsePolicy(or(policyPrincipalsMax + 1)), 'POLICY_E_LIMIT');
    expect(error.details['limit']).toBe('policyPrincipalsMax');
  });
});

// --- formatting and the round trip ------------------------------------------------------------

describe('formatPolicy', () => {
  it.each([
    ["or('A.member', and('B.member', 'C.member'))", "OR('A.member', AND('B.member', 'C.member'))"],
    ["OutOf(2, 'A.peer', 'B.client', 'C.orderer')", "OutOf(2, 'A.peer', 'B.client', 'C.orderer')"],
    ["OutOf(1, 'A.member', 'B.member')", "OR('A.member', 'B.member')"],
    ["OutOf(2, 'A.member', 'B.member')", "AND('A.member', 'B.member')"],
    ["OutOf(0, 'A.member')", "OutOf(0, 'A.member')"],
    ["OutOf(3, 'A.member', 'B.admin')", "OutOf(3, 'A.member', 'B.admin')"],
    ['OR("A.B.admin")', "AND('A.B.admin')"],
  ])('%s prints as %s', (text, printed) => {
    expect(formatPolicy(parsePolicy(text))).toBe(printed);
  });

  it("prints Fabric's own envelopes (one identity per occurrence) as an equivalent policy", () => {
    const fabric = envelope(outOf(2, by(0), by(1)), [role('A', 'MEMBER'), role('A', 'MEMBER')]);
    const text = formatPolicy(fabric);
    expect(text).toBe("AND('A.member', 'A.member')");
    expect(parsePolicy(text)).toEqual(envelope(outOf(2, by(0), by(0)), [role('A', 'MEMBER')]));
  });

  it('refuses what the syntax cannot express', () => {
    const A = role('A', 'MEMBER');
    for (const policy of [
      envelope(outOf(0), []), // Fabric's AcceptAllPolicy
      envelope(outOf(1), []), // Fabric's RejectAllPolicy
      envelope(outOf(3, by(0)), [A]),
      envelope(outOf(-1, by(0)), [A]),
      envelope(by(0), [
        { type: 'ORGANIZATION_UNIT', mspId: 'A', ou: 'x', certifiersIdentifier: null },
      ]),
      envelope(by(0), [{ type: 'ROLE', mspId: 'A', role: 7 }]),
      envelope(by(0), [role('A_B', 'MEMBER')]),
      envelope(by(1), [A]),
    ]) {
      expect(expectCode(() => formatPolicy(policy), 'POLICY_E_INVALID').name).toBe('PolicyError');
    }
  });
});

type LeafAst = {
  readonly kind: 'leaf';
  readonly mspId: string;
  readonly role: 'member' | 'admin' | 'client' | 'peer' | 'orderer';
  readonly quote: string;
};
type GateAst = {
  readonly kind: 'gate';
  readonly n: number;
  readonly children: readonly Ast[];
  readonly spelling: number;
  readonly named: boolean;
  readonly quoteN: boolean;
  readonly sep: string;
};
type Ast = LeafAst | GateAst;

const roleWords = ['member', 'admin', 'client', 'peer', 'orderer'] as const;

function astArbitrary(mspIds: readonly string[], maxChildren: number) {
  return fc.letrec<{ node: Ast; leaf: LeafAst; gate: GateAst }>((tie) => ({
    node: fc.oneof({ maxDepth: 3, depthIdentifier: 'policy' }, tie('leaf'), tie('gate')),
    leaf: fc.record({
      kind: fc.constant('leaf' as const),
      mspId: fc.constantFrom(...mspIds),
      role: fc.constantFrom(...roleWords),
      quote: fc.constantFrom("'", '"'),
    }),
    gate: fc
      .array(tie('node'), { minLength: 1, maxLength: maxChildren, depthIdentifier: 'policy' })
      .chain((children) =>
        fc.record({
          kind: fc.constant('gate' as const),
          n: fc.integer({ min: 0, max: children.length + 1 }),
          children: fc.constant(children),
          spelling: fc.integer({ min: 0, max: 2 }),
          named: fc.boolean(),
          quoteN: fc.boolean(),
          sep: fc.constantFrom(', ', ',', ' ,\n\t'),
        }),
      ),
  })).gate;
}

/** Writes an AST in one of the many spellings Fabric accepts. */
function render(ast: Ast): string {
  if (ast.kind === 'leaf') return `${ast.quote}${ast.mspId}.${ast.role}${ast.quote}`;
  const args = ast.children.map(render).join(ast.sep);
  const pick = (names: readonly string[]): string => names[ast.spelling] ?? 'OutOf';
  if (ast.named && ast.n === ast.children.length) return `${pick(['And', 'and', 'AND'])}(${args})`;
  if (ast.named && ast.n === 1) return `${pick(['Or', 'or', 'OR'])}(${args})`;
  const n = ast.quoteN ? `'${ast.n}'` : String(ast.n);
  return `${pick(['OutOf', 'outof', 'OUTOF'])}(${n}${ast.sep}${args})`;
}

const upper = (word: LeafAst['role']): MspRoleName => word.toUpperCase() as MspRoleName;

/** What FromString builds, deduplicated: identities in Fabric's order (nested gates first). */
function expectedPolicy(ast: GateAst): SignaturePolicy {
  const occurrences: Principal[] = [];
  const visit = (gate: GateAst): void => {
    for (const child of gate.children) if (child.kind === 'gate') visit(child);
    for (const child of gate.children) {
      if (child.kind === 'leaf') occurrences.push(role(child.mspId, upper(child.role)));
    }
  };
  visit(ast);
  const identities = occurrences.filter(
    (p, i) => occurrences.findIndex((q) => JSON.stringify(q) === JSON.stringify(p)) === i,
  );
  const rule = (node: Ast): Rule =>
    node.kind === 'leaf'
      ? by(
          identities.findIndex(
            (p) => JSON.stringify(p) === JSON.stringify(role(node.mspId, upper(node.role))),
          ),
        )
      : outOf(node.n, ...node.children.map(rule));
  return envelope(rule(ast), identities);
}

describe('round trip', () => {
  it('parse(render(ast)) is what Fabric builds, and parse(format(p)) equals p', () => {
    fc.assert(
      fc.property(astArbitrary(['Org1MSP', 'Org2MSP', 'A.B', 'x-y.z', 'org3'], 4), (ast) => {
        const policy = parsePolicy(render(ast));
        expect(policy).toEqual(expectedPolicy(ast));
        const text = formatPolicy(policy);
        expect(parsePolicy(text)).toEqual(policy);
        expect(formatPolicy(parsePolicy(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});

// --- evaluation -------------------------------------------------------------------------------

const countLeaves = (ast: Ast): number =>
  ast.kind === 'leaf' ? 1 : ast.children.reduce((sum, child) => sum + countLeaves(child), 0);

describe('evaluatePolicy against the brute-force reference', () => {
  const signerPool = fc.array(
    fc.record({
      mspId: fc.constantFrom('A', 'B'),
      roles: fc.subarray(['MEMBER', 'ADMIN'] as MspRoleName[]),
    }),
    { minLength: 1, maxLength: 4 },
  );

  it('never accepts what no assignment of distinct signers satisfies', () => {
    const seen = { satisfiable: 0, unsatisfiable: 0 };
    fc.assert(
      fc.property(
        astArbitrary(['A', 'B'], 3).filter((ast) => countLeaves(ast) <= 7),
        signerPool.chain((pool) =>
          fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 6 }).map((picks) =>
            picks.map((i) => {
              const s = pool[i] ?? { mspId: 'A', roles: [] };
              return signer(`k${i}`, s.mspId, ...s.roles);
            }),
          ),
        ),
        (ast, signers) => {
          // Only member/admin are in the pool; the other roles never match, which is fine.
          const policy = parsePolicy(render(ast));
          const got = evaluatePolicy(policy, signers, satisfiesRole);
          const possible = referenceSatisfiable(policy, signers, satisfiesRole);
          if (!possible) expect(got).toBe(false);
          seen[possible ? 'satisfiable' : 'unsatisfiable']++;
        },
      ),
      { numRuns: 1000 },
    );
    // The generator reaches both outcomes, so the property is not vacuous.
    expect(seen.satisfiable).toBeGreaterThan(50);
    expect(seen.unsatisfiable).toBeGreaterThan(50);
  });

  it('agrees exactly when principals are distinct and each signer satisfies at most one', () => {
    fc.assert(
      fc.property(
        astArbitrary(['X'], 4).filter((ast) => countLeaves(ast) <= 8),
        fc.array(fc.integer({ min: -1, max: 7 }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 8 }),
        (shape, targets, picks) => {
          // Relabel leaf i as the principal Org<i>.<role>: all distinct.
          let next = 0;
          const relabel = (node: Ast): Ast =>
            node.kind === 'leaf'
              ? { ...node, mspId: `Org${next++}` }
              : { ...node, children: node.children.map(relabel) };
          const ast = relabel(shape) as GateAst;
          const policy = parsePolicy(render(ast));
          // Signer k satisfies only leaf targets[k] (or nothing); equal keys are equal signers.
          const leafPrincipal = (i: number): Principal | undefined => {
            let seen = 0;
            let found: Principal | undefined;
            const walk = (node: Ast): void => {
              if (node.kind === 'gate') node.children.forEach(walk);
              else if (seen++ === i) found = role(node.mspId, upper(node.role));
            };
            walk(ast);
            return found;
          };
          const signers = picks.map((k) => ({ key: `s${k}`, target: targets[k] ?? -1 }));
          const satisfies = (s: { target: number }, p: Principal): boolean =>
            JSON.stringify(leafPrincipal(s.target)) === JSON.stringify(p);
          expect(evaluatePolicy(policy, signers, satisfies)).toBe(
            referenceSatisfiable(policy, signers, satisfies),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('evaluatePolicy scenarios', () => {
  const org1Admin = signer('org1-admin', 'Org1MSP', 'MEMBER', 'ADMIN');
  const org1Member = signer('org1-user', 'Org1MSP', 'MEMBER', 'CLIENT');
  const org2Admin = signer('org2-admin', 'Org2MSP', 'MEMBER', 'ADMIN');
  const org2Member = signer('org2-user', 'Org2MSP', 'MEMBER', 'CLIENT');
  const peer1 = signer('peer1', 'Org1MSP', 'MEMBER', 'PEER');
  const peer2 = signer('peer2', 'Org2MSP', 'MEMBER', 'PEER');
  const peer3 = signer('peer3', 'Org3MSP', 'MEMBER', 'PEER');

  it("OR('Org1MSP.admin', 'Org2MSP.admin') needs an admin of either org", () => {
    const policy = "OR('Org1MSP.admin', 'Org2MSP.admin')";
    expect(evaluate(policy, [org2Admin])).toBe(true);
    expect(evaluate(policy, [org1Member, org1Admin])).toBe(true);
    expect(evaluate(policy, [org1Member, org2Member])).toBe(false);
    expect(evaluate(policy, [])).toBe(false);
  });

  it('AND needs two different signers; the same signer twice counts once', () => {
    const twoOrgs = "AND('Org1MSP.admin', 'Org2MSP.admin')";
    expect(evaluate(twoOrgs, [org1Admin, org2Admin])).toBe(true);
    expect(evaluate(twoOrgs, [org1Admin, org1Admin])).toBe(false);
    const twoMembers = "AND('Org1MSP.member', 'Org1MSP.member')";
    expect(parsePolicy(twoMembers).identities).toHaveLength(1);
    expect(evaluate(twoMembers, [org1Admin, org1Admin])).toBe(false);
    expect(evaluate(twoMembers, [org1Admin, org1Member])).toBe(true);
  });

  it('OutOf(2, ...) over three orgs needs peers of two different orgs', () => {
    const policy = "OutOf(2, 'Org1MSP.peer', 'Org2MSP.peer', 'Org3MSP.peer')";
    expect(evaluate(policy, [peer1, peer3])).toBe(true);
    expect(evaluate(policy, [peer3, peer2, peer1])).toBe(true);
    expect(evaluate(policy, [peer2])).toBe(false);
    expect(evaluate(policy, [peer2, peer2, peer2])).toBe(false);
    expect(evaluate(policy, [peer1, org1Admin, org1Member])).toBe(false);
  });

  it('deduplicates signatures by key, keeping the first, as SignatureSetToValidIdentities', () => {
    expect(evaluate("OutOf(2, 'Org1MSP.member', 'Org1MSP.member')", [peer1, peer1, peer1])).toBe(
      false,
    );
    const impostor = signer('org1-admin', 'Org1MSP'); // same key, listed first: it is kept
    expect(evaluate("OR('Org1MSP.admin')", [impostor, org1Admin])).toBe(false);
    expect(evaluate("OR('Org1MSP.admin')", [org1Admin, impostor])).toBe(true);
  });

  it("reproduces Fabric's greedy failures, where a distinct assignment exists", () => {
    // signedBy takes the first unused signer that fits: the admin is spent on 'member'.
    const both = parsePolicy("AND('Org1MSP.member', 'Org1MSP.admin')");
    expect(evaluatePolicy(both, [org1Admin, org1Member], satisfiesRole)).toBe(false);
    expect(referenceSatisfiable(both, [org1Admin, org1Member], satisfiesRole)).toBe(true);
    // Order matters: the member first leaves the admin free.
    expect(evaluatePolicy(both, [org1Member, org1Admin], satisfiesRole)).toBe(true);

    // Gates do not stop at n: the satisfied OR still runs 'Org2MSP.member' and spends it.
    const nested = parsePolicy("AND(OR('Org1MSP.member', 'Org2MSP.member'), 'Org2MSP.member')");
    expect(evaluatePolicy(nested, [org1Member, org2Member], satisfiesRole)).toBe(false);
    expect(referenceSatisfiable(nested, [org1Member, org2Member], satisfiesRole)).toBe(true);
    // Written the other way round it passes.
    expect(
      evaluate("AND('Org2MSP.member', OR('Org1MSP.member', 'Org2MSP.member'))", [
        org1Member,
        org2Member,
      ]),
    ).toBe(true);
  });

  it('n = 0 is always satisfied and n = rules + 1 never', () => {
    expect(evaluate("OutOf(0, 'Org1MSP.admin')", [])).toBe(true);
    expect(evaluate("OutOf(3, 'Org1MSP.member', 'Org2MSP.member')", [org1Admin, org2Admin])).toBe(
      false,
    );
  });

  it("evaluates Fabric's AcceptAllPolicy and RejectAllPolicy envelopes", () => {
    expect(evaluatePolicy(envelope(outOf(0), []), [], satisfiesRole)).toBe(true);
    expect(evaluatePolicy(envelope(outOf(1), []), [org1Admin], satisfiesRole)).toBe(false);
  });

  it('passes the caller’s own signer objects and the principal to satisfies', () => {
    const seen: [string, Principal][] = [];
    const signers = [{ key: 'k', cert: 'PEM…' }];
    expect(
      evaluatePolicy(parsePolicy("OR('A.peer')"), signers, (s, p) => {
        seen.push([s.cert, p]);
        return true;
      }),
    ).toBe(true);
    expect(seen).toEqual([['PEM…', role('A', 'PEER')]]);
  });

  it('refuses envelopes Fabric would not compile, and oversized ones', () => {
    const A = role('A', 'MEMBER');
    for (const policy of [
      envelope(outOf(1, by(1)), [A]),
      envelope(outOf(1, by(-1)), [A]),
      envelope(outOf(1.5, by(0)), [A]),
      { ...envelope(by(0), [A]), version: 1 } as unknown as SignaturePolicy,
    ]) {
      expectCode(() => evaluatePolicy(policy, [], satisfiesRole), 'POLICY_E_INVALID');
    }
    let deep: Rule = by(0);
    for (let i = 0; i <= policyDepthMax; i++) deep = outOf(1, deep);
    expectCode(() => evaluatePolicy(envelope(deep, [A]), [], satisfiesRole), 'POLICY_E_LIMIT');
    const many = Array.from({ length: policyPrincipalsMax + 1 }, (_, i) => role(`O${i}`, 'PEER'));
    expectCode(() => evaluatePolicy(envelope(by(0), many), [], satisfiesRole), 'POLICY_E_LIMIT');
    const wide = outOf(1, ...Array.from({ length: policyRulesMax }, () => by(0)));
    expectCode(() => evaluatePolicy(envelope(wide, [A]), [], satisfiesRole), 'POLICY_E_LIMIT');
  });
});

describe('docs/errors.md', () => {
  const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

  it('lists every POLICY_E_* code as the registry has it, and the limits', () => {
    const codes = Object.entries(errorRegistry).filter(([code]) => code.startsWith('POLICY_E_'));
    expect(codes.length).toBeGreaterThanOrEqual(3);
    for (const [code, spec] of codes) {
      expect(docs).toContain(`- \`${code}\` (${spec.className}): ${spec.summary} — ${spec.fix}\n`);
    }
    for (const [name, value] of Object.entries({
      policyTextBytesMax,
      policyDepthMax,
      policyPrincipalsMax,
      policyRulesMax,
    })) {
      expect(docs).toContain(`- \`${name}\` = ${value}:`);
    }
  });
});
