// Fabric signature policies: the policy language of Fabric's `common/policydsl/policyparser.go`
// (FromString) and the evaluation of `common/cauthdsl/cauthdsl.go` (compile), as pure functions.
// The MSP decides whether one identity satisfies one principal; it is injected.
import assert from 'node:assert/strict';
import { cofferError } from '../errors/index.js';
import type { MspRoleName, Principal } from './types.js';

// --- types ------------------------------------------------------------------------------------

/** Fabric `common.SignaturePolicy`: a leaf naming `identities[signedBy]`, or an n-out-of gate. */
export type Rule =
  | { readonly signedBy: number }
  | { readonly nOutOf: { readonly n: number; readonly rules: readonly Rule[] } };

/** Fabric `common.SignaturePolicyEnvelope`. */
export type SignaturePolicy = {
  readonly version: 0;
  readonly rule: Rule;
  readonly identities: readonly Principal[];
};

/**
 * One identity whose signature the caller has already verified. `key` identifies the identity
 * (Fabric dedups by MSP ID + identity id, i.e. the certificate: `policies.SignatureSetToValidIdentities`);
 * everything else is whatever the caller's `satisfies` needs.
 */
export type SignedIdentity = { readonly key: string };

// --- limits (STYLE.md 5) ----------------------------------------------------------------------

/** Longest policy text, in UTF-8 bytes. */
export const policyTextBytesMax: number = 64 * 1024;
/** Deepest nesting of gates (and, in text, grouping parentheses); the root gate is depth 1. */
export const policyDepthMax: number = 32;
/** Most distinct principals in one policy (envelope `identities`). */
export const policyPrincipalsMax: number = 256;
/** Most rules (signedBy leaves plus gates) in one policy. */
export const policyRulesMax: number = 1024;

assert(policyPrincipalsMax <= policyRulesMax, 'every parsed principal is named by some rule');
assert(policyDepthMax <= policyRulesMax, 'every level of nesting is at least one rule');
// The recursion of parse, format and evaluate is bounded by policyDepthMax: keep it far from
// the engine's stack limit.
assert(policyDepthMax <= 256);

// --- parsing ----------------------------------------------------------------------------------

type RoleWord = 'member' | 'admin' | 'client' | 'peer' | 'orderer';

const roleByWord: Readonly<Record<RoleWord, MspRoleName>> = {
  member: 'MEMBER',
  admin: 'ADMIN',
  client: 'CLIENT',
  peer: 'PEER',
  orderer: 'ORDERER',
};

const wordByRole: Readonly<Record<MspRoleName, RoleWord>> = {
  MEMBER: 'member',
  ADMIN: 'admin',
  CLIENT: 'client',
  PEER: 'peer',
  ORDERER: 'orderer',
};

// policyparser.go's `regex`: Go's [[:alnum:]] is ASCII; the greedy MSP ID makes the split fall
// on the last dot, so 'A.B.member' is MSP 'A.B'.
const principalPattern = /^([A-Za-z0-9.-]+)\.(member|admin|client|peer|orderer)$/;
const mspIdPattern = /^[A-Za-z0-9.-]+$/;

type Gate = 'AND' | 'OR' | 'OUTOF';

// FromString registers exactly these spellings with govaluate (And/and/AND, ...): `aNd` is an
// unknown token in Fabric, so it is here too.
const gateBySpelling: ReadonlyMap<string, Gate> = new Map([
  ['And', 'AND'],
  ['and', 'AND'],
  ['AND', 'AND'],
  ['Or', 'OR'],
  ['or', 'OR'],
  ['OR', 'OR'],
  ['OutOf', 'OUTOF'],
  ['outof', 'OUTOF'],
  ['OUTOF', 'OUTOF'],
]);

type PrincipalNode = {
  readonly kind: 'principal';
  readonly mspId: string;
  readonly role: MspRoleName;
  readonly position: number;
};
type GateNode = {
  readonly kind: 'gate';
  readonly n: number;
  readonly items: readonly Node[];
  readonly position: number;
};
type Node = PrincipalNode | GateNode;

function syntaxError(position: number, expected: string, found: string): never {
  throw cofferError(
    'POLICY_E_SYNTAX',
    `Policy syntax error at position ${position}: expected ${expected}, found ${found}.`,
    { position, expected, found },
  );
}

function limitError(limit: string, max: number, message: string, position?: number): never {
  throw cofferError(
    'POLICY_E_LIMIT',
    message,
    position === undefined ? { limit, max } : { limit, max, position },
  );
}

function isSpace(ch: string): boolean {
  // govaluate skips unicode.IsSpace; the ASCII ones are the ones policies use.
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f';
}

function isDigit(ch: string): boolean {
  return ch >= '0' && ch <= '9';
}

function isLetter(ch: string): boolean {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

function isQuote(ch: string): boolean {
  return ch === "'" || ch === '"';
}

/** A string for messages, quoted and cut short. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** A short, quoted view of the text at `position`, for messages. */
function excerpt(text: string, position: number): string {
  if (position >= text.length) return 'the end of the policy';
  const snippet = text.slice(position, position + 12);
  return JSON.stringify(snippet.length < text.length - position ? `${snippet}…` : snippet);
}

const principalHint =
  "a quoted principal such as 'Org1MSP.member', or AND(...), OR(...), OutOf(n, ...)";

/**
 * The accepted language is the part of govaluate's expression syntax that FromString gives
 * meaning to: gates, quoted principals, n as a whole number (or a quoted one, as Fabric's
 * TestOutOfNumIsString), whitespace and grouping parentheses. Every text accepted here is
 * accepted by Fabric with the same rule. Fabric also evaluates arithmetic or fractions as n and
 * re-parses non-principal strings as expression text; those are refused here.
 */
class Parser {
  private position = 0;
  private rules = 0;

  constructor(private readonly text: string) {}

  parse(): GateNode {
    this.skipSpace();
    const root = this.item(1);
    this.skipSpace();
    if (this.position < this.text.length) {
      syntaxError(this.position, 'the end of the policy', excerpt(this.text, this.position));
    }
    if (root.kind === 'principal') {
      // Fabric: "invalid policy string" (the result is not a SignaturePolicy).
      syntaxError(
        root.position,
        'a gate: a policy is AND(...), OR(...) or OutOf(n, ...), not a lone principal',
        excerpt(this.text, root.position),
      );
    }
    return root;
  }

  private peek(): string {
    return this.text.charAt(this.position);
  }

  private skipSpace(): void {
    while (this.position < this.text.length && isSpace(this.peek())) this.position++;
  }

  private enter(depth: number): void {
    if (depth > policyDepthMax) {
      limitError(
        'policyDepthMax',
        policyDepthMax,
        `Policy nests deeper than ${policyDepthMax} levels at position ${this.position}.`,
        this.position,
      );
    }
  }

  private countRule(position: number): void {
    this.rules++;
    if (this.rules > policyRulesMax) {
      limitError(
        'policyRulesMax',
        policyRulesMax,
        `Policy has more than ${policyRulesMax} rules (principals and gates); the one at position ${position} is over.`,
        position,
      );
    }
  }

  /** A principal or a gate, possibly in grouping parentheses (govaluate allows them). */
  private item(depth: number): Node {
    const start = this.position;
    const ch = this.peek();
    if (ch === '(') {
      this.enter(depth);
      this.position++;
      this.skipSpace();
      const inner = this.item(depth + 1);
      this.skipSpace();
      this.expect(')', "')' to close the parenthesis");
      return inner;
    }
    if (isQuote(ch)) {
      const value = this.string();
      this.countRule(start);
      return this.principal(value, start);
    }
    if (isLetter(ch)) {
      this.enter(depth);
      return this.gate(depth);
    }
    if (isDigit(ch) || ch === '-' || ch === '.') {
      syntaxError(
        start,
        `${principalHint} (a number is only allowed as n of OutOf)`,
        excerpt(this.text, start),
      );
    }
    return syntaxError(start, principalHint, excerpt(this.text, start));
  }

  private gate(depth: number): GateNode {
    const start = this.position;
    // govaluate's variable names: a letter, then letters, digits and '_'.
    while (this.position < this.text.length) {
      const ch = this.peek();
      if (!(isLetter(ch) || isDigit(ch) || ch === '_')) break;
      this.position++;
    }
    const name = this.text.slice(start, this.position);
    const gate = gateBySpelling.get(name);
    if (gate === undefined) {
      const lower = name.toLowerCase();
      const close = lower === 'and' || lower === 'or' || lower === 'outof';
      syntaxError(
        start,
        close
          ? 'And, and, AND, Or, or, OR, OutOf, outof or OUTOF (the spellings Fabric accepts)'
          : principalHint,
        `the unrecognized token ${quoted(name)}`,
      );
    }
    this.countRule(start);
    this.skipSpace();
    this.expect('(', `'(' after ${name}`);
    this.skipSpace();

    let n: number | undefined;
    const nPosition = this.position;
    if (gate === 'OUTOF') {
      n = this.count(depth + 1);
      this.skipSpace();
      if (this.peek() !== ',') {
        // Fabric: "expected at least two arguments to NOutOf".
        syntaxError(
          this.position,
          `',' and then at least one principal or gate after n of ${name}`,
          excerpt(this.text, this.position),
        );
      }
      this.position++;
      this.skipSpace();
    } else if (this.peek() === ')') {
      syntaxError(this.position, `at least one principal or gate in ${name}(...)`, "')'");
    }

    const items: Node[] = [];
    for (;;) {
      items.push(this.item(depth + 1));
      this.skipSpace();
      const ch = this.peek();
      if (ch === ',') {
        this.position++;
        this.skipSpace();
        continue;
      }
      if (ch === ')') {
        this.position++;
        break;
      }
      syntaxError(this.position, `',' or ')' in ${name}(...)`, excerpt(this.text, this.position));
    }

    if (gate === 'AND') return { kind: 'gate', n: items.length, items, position: start };
    if (gate === 'OR') return { kind: 'gate', n: 1, items, position: start };
    assert(n !== undefined);
    // policyparser.go secondPass: 0 <= n <= rules + 1. n = 0 is always satisfied; n = rules + 1
    // is accepted on purpose and never satisfied (Fabric's use: a ledger key nobody may change).
    if (n > items.length + 1) {
      syntaxError(
        nPosition,
        `n from 0 to ${items.length + 1} for ${items.length} rule(s) (n = rules + 1 is Fabric's never-satisfied policy)`,
        `n = ${n}`,
      );
    }
    return { kind: 'gate', n, items, position: start };
  }

  /** n of OutOf: digits, or digits in quotes (Fabric's TestOutOfNumIsString). */
  private count(depth: number): number {
    const start = this.position;
    const ch = this.peek();
    if (ch === '(') {
      this.enter(depth);
      this.position++;
      this.skipSpace();
      const inner = this.count(depth + 1);
      this.skipSpace();
      this.expect(')', "')' to close the parenthesis");
      return inner;
    }
    if (ch === '-') {
      // Fabric: "invalid t-out-of-n predicate" for t < 0.
      syntaxError(start, 'n >= 0 as the first argument of OutOf', excerpt(this.text, start));
    }
    let digits: string;
    if (isQuote(ch)) {
      digits = this.string();
      if (!/^[0-9]+$/.test(digits)) {
        syntaxError(start, 'a whole number n as the first argument of OutOf', quoted(digits));
      }
    } else {
      while (this.position < this.text.length && isDigit(this.peek())) this.position++;
      digits = this.text.slice(start, this.position);
      if (digits === '' || this.peek() === '.' || isLetter(this.peek())) {
        syntaxError(
          start,
          'a whole number n as the first argument of OutOf',
          excerpt(this.text, start),
        );
      }
    }
    // Precision beyond 2^53 does not matter: any n above policyRulesMax + 1 is refused later.
    return Number(digits);
  }

  /** A govaluate string literal: opens with ' or ", ends at the next unescaped ' or " (either,
   * as govaluate's isNotQuote), and a backslash takes the next character literally. */
  private string(): string {
    const start = this.position;
    this.position++;
    let value = '';
    for (;;) {
      if (this.position >= this.text.length) {
        syntaxError(
          start,
          'a closing quote for the string that starts here',
          'the end of the policy',
        );
      }
      const ch = this.peek();
      this.position++;
      if (ch === '\\') {
        if (this.position >= this.text.length) {
          syntaxError(
            start,
            'a closing quote for the string that starts here',
            'the end of the policy',
          );
        }
        value += this.peek();
        this.position++;
        continue;
      }
      if (isQuote(ch)) return value;
      value += ch;
    }
  }

  private principal(value: string, position: number): PrincipalNode {
    const match = principalPattern.exec(value);
    const mspId = match?.[1];
    const role = match?.[2] as RoleWord | undefined;
    if (mspId !== undefined && role !== undefined) {
      return { kind: 'principal', mspId, role: roleByWord[role], position };
    }
    const dot = value.lastIndexOf('.');
    const word = value.slice(dot + 1);
    let expected = "a principal 'MSPID.role' with role member, admin, client, peer or orderer";
    if (dot > 0 && Object.hasOwn(roleByWord, word)) {
      expected = "an MSP ID of letters, digits, '.' and '-' only (Fabric's policy parser)";
    } else if (dot > 0 && Object.hasOwn(roleByWord, word.toLowerCase())) {
      expected = 'a lowercase role (member, admin, client, peer, orderer), as Fabric requires';
    }
    return syntaxError(position, expected, quoted(value));
  }

  private expect(ch: string, expected: string): void {
    if (this.peek() !== ch) {
      syntaxError(this.position, expected, excerpt(this.text, this.position));
    }
    this.position++;
  }
}

function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * Builds the envelope as FromString does, except that equal principals share one identity
 * (Fabric appends one per occurrence; the rule's meaning is the same). Identity order is
 * Fabric's: govaluate evaluates nested gates before their parent, so a gate's nested gates
 * number their principals first, then the gate its own — OR('A.member', AND('B.member',
 * 'C.member')) gives [B, C, A], as Fabric's TestComplex1.
 */
function envelope(root: GateNode): SignaturePolicy {
  const identities: Principal[] = [];
  const indexByKey = new Map<string, number>();

  const indexOf = (node: PrincipalNode): number => {
    const key = `${node.mspId}\u0000${node.role}`;
    const known = indexByKey.get(key);
    if (known !== undefined) return known;
    if (identities.length >= policyPrincipalsMax) {
      limitError(
        'policyPrincipalsMax',
        policyPrincipalsMax,
        `Policy names more than ${policyPrincipalsMax} distinct principals; the one at position ${node.position} is over.`,
        node.position,
      );
    }
    indexByKey.set(key, identities.length);
    identities.push({ type: 'ROLE', mspId: node.mspId, role: node.role });
    return identities.length - 1;
  };

  const build = (gate: GateNode): Rule => {
    const gateRules = gate.items.map((item) => (item.kind === 'gate' ? build(item) : undefined));
    const rules = gate.items.map((item, i): Rule => {
      if (item.kind === 'principal') return { signedBy: indexOf(item) };
      const rule = gateRules[i];
      assert(rule !== undefined);
      return rule;
    });
    return { nOutOf: { n: gate.n, rules } };
  };

  return { version: 0, rule: build(root), identities };
}

/**
 * Parses Fabric's policy syntax (`OR('Org1MSP.admin', AND('Org2MSP.peer', 'Org3MSP.peer'))`,
 * `OutOf(2, 'A.member', 'B.member', 'C.member')`) into a SignaturePolicyEnvelope.
 * Throws POLICY_E_SYNTAX (with the 0-based `position` in `details`) or POLICY_E_LIMIT.
 */
export function parsePolicy(text: string): SignaturePolicy {
  // A UTF-16 unit is at least one UTF-8 byte: the cheap test first, so huge input is not encoded.
  if (text.length > policyTextBytesMax || utf8Bytes(text) > policyTextBytesMax) {
    limitError(
      'policyTextBytesMax',
      policyTextBytesMax,
      `Policy text is longer than ${policyTextBytesMax} bytes.`,
    );
  }
  return envelope(new Parser(text).parse());
}

// --- structure checks shared by format and evaluate ------------------------------------------

function invalid(message: string, details: Readonly<Record<string, unknown>> = {}): never {
  throw cofferError('POLICY_E_INVALID', message, details);
}

/**
 * What Fabric's cauthdsl NewPolicy/compile refuse (version not 0, identity index out of range),
 * plus the size limits, for envelopes that come from configuration rather than parsePolicy.
 */
function checkPolicy(policy: SignaturePolicy): void {
  if ((policy.version as number) !== 0) {
    invalid(`Policy version is ${String(policy.version)}; Fabric evaluates version 0 only.`);
  }
  if (policy.identities.length > policyPrincipalsMax) {
    limitError(
      'policyPrincipalsMax',
      policyPrincipalsMax,
      `Policy has ${policy.identities.length} identities; at most ${policyPrincipalsMax} are allowed.`,
    );
  }
  let rules = 0;
  const walk = (rule: Rule, depth: number, path: string): void => {
    rules++;
    if (rules > policyRulesMax) {
      limitError('policyRulesMax', policyRulesMax, `Policy has more than ${policyRulesMax} rules.`);
    }
    if ('signedBy' in rule) {
      const index = rule.signedBy;
      if (!Number.isInteger(index) || index < 0 || index >= policy.identities.length) {
        invalid(
          `${path}.signedBy is ${index}, which is not an index of the policy's ${policy.identities.length} identities.`,
          { path },
        );
      }
      return;
    }
    if (depth > policyDepthMax) {
      limitError(
        'policyDepthMax',
        policyDepthMax,
        `Policy nests deeper than ${policyDepthMax} gates.`,
      );
    }
    if (!Number.isSafeInteger(rule.nOutOf.n)) {
      invalid(`${path}.nOutOf.n is ${rule.nOutOf.n}; it must be a whole number.`, { path });
    }
    rule.nOutOf.rules.forEach((child, i) => {
      walk(child, depth + 1, `${path}.nOutOf.rules[${i}]`);
    });
  };
  walk(policy.rule, 1, 'rule');
}

// --- formatting -------------------------------------------------------------------------------

function formatPrincipal(principal: Principal, index: number): string {
  if (
    principal.type !== 'ROLE' ||
    typeof principal.role !== 'string' ||
    !Object.hasOwn(wordByRole, principal.role) ||
    !mspIdPattern.test(principal.mspId)
  ) {
    invalid(
      `identities[${index}] cannot be written in policy syntax: only ROLE principals with an MSP ID of letters, digits, '.' and '-' can.`,
      { path: `identities[${index}]` },
    );
  }
  return `'${principal.mspId}.${wordByRole[principal.role]}'`;
}

/**
 * Prints a policy in Fabric's syntax; parsePolicy(formatPolicy(p)) equals p for every p that
 * parsePolicy returns (for other envelopes it gives an equivalent one, re-indexed). Throws
 * POLICY_E_INVALID for what the syntax cannot express: non-ROLE principals, and gates without
 * rules or with n outside 0..rules+1 (Fabric's AcceptAllPolicy is NOutOf(0, [])).
 */
export function formatPolicy(policy: SignaturePolicy): string {
  checkPolicy(policy);
  const format = (rule: Rule, path: string): string => {
    if ('signedBy' in rule) {
      const principal = policy.identities[rule.signedBy];
      assert(principal !== undefined);
      return formatPrincipal(principal, rule.signedBy);
    }
    const { n, rules } = rule.nOutOf;
    if (rules.length === 0 || n < 0 || n > rules.length + 1) {
      invalid(
        `${path} (n = ${n} of ${rules.length} rules) cannot be written in policy syntax, which needs at least one rule and 0 <= n <= rules + 1.`,
        { path },
      );
    }
    const args = rules.map((child, i) => format(child, `${path}.nOutOf.rules[${i}]`)).join(', ');
    if (n === rules.length) return `AND(${args})`;
    if (n === 1) return `OR(${args})`;
    return `OutOf(${n}, ${args})`;
  };
  return format(policy.rule, 'rule');
}

// --- evaluation -------------------------------------------------------------------------------

/**
 * Fabric's cauthdsl evaluation, step for step:
 * - signers are deduplicated by `key`, first one kept (SignatureSetToValidIdentities);
 * - signedBy takes the first unused signer that satisfies the principal and marks it used;
 * - a gate runs every child in order on a copy of `used`, commits the copy when the child
 *   succeeds, and succeeds when at least n children did.
 * This is greedy, and Fabric's gates do not stop at n: a satisfied OR still runs its other
 * children, which use up signers. So some satisfiable policies fail, e.g. AND('A.member',
 * 'A.admin') signed by [an admin, a member] (the admin is taken for member), or
 * AND(OR('A.member', 'B.member'), 'B.member') signed by [A member, B member]. Coffer keeps that,
 * so that it accepts exactly what Fabric peers accept. `satisfies` is the MSP's principal check;
 * signatures must be verified before.
 */
export function evaluatePolicy<T extends SignedIdentity>(
  policy: SignaturePolicy,
  signers: readonly T[],
  satisfies: (signer: T, principal: Principal) => boolean,
): boolean {
  checkPolicy(policy);
  const seen = new Set<string>();
  const unique: T[] = [];
  for (const signer of signers) {
    if (seen.has(signer.key)) continue;
    seen.add(signer.key);
    unique.push(signer);
  }

  const run = (rule: Rule, used: boolean[]): boolean => {
    if ('signedBy' in rule) {
      const principal = policy.identities[rule.signedBy];
      assert(principal !== undefined);
      for (let i = 0; i < unique.length; i++) {
        const signer = unique[i];
        assert(signer !== undefined);
        if (used[i] === true || !satisfies(signer, principal)) continue;
        used[i] = true;
        return true;
      }
      return false;
    }
    let verified = 0;
    const scratch = used.slice();
    for (const child of rule.nOutOf.rules) {
      for (let i = 0; i < used.length; i++) scratch[i] = used[i] === true;
      if (run(child, scratch)) {
        verified++;
        for (let i = 0; i < used.length; i++) used[i] = scratch[i] === true;
      }
    }
    return verified >= rule.nOutOf.n;
  };

  return run(
    policy.rule,
    unique.map(() => false),
  );
}
