// crypto-config.yaml: parsing, validation and cryptogen's defaults and templates
// (fabric cmd/cryptogen: renderOrgSpec, renderNodeSpec, generatePeerOrg, generateOrdererOrg).
// Pure: text in, CryptoConfig out, every error a CRYPTOGEN_E_CONFIG naming the failing field.
import { isIP } from 'node:net';
import { parseDocument } from 'yaml';
import { cofferError } from '../../errors/index.js';
import {
  configBytesMax,
  identitiesMax,
  nameCharsMax,
  nodesPerOrgMax,
  orgsMax,
  sansPerNodeMax,
  subjectFieldCharsMax,
  templateStartMax,
  usersPerOrgMax,
  yamlAliasesMax,
} from './limits.js';
import { renderTemplate, type TemplateData } from './template.js';
import type {
  CaSpec,
  CaSubject,
  CryptoConfig,
  NodeSpec,
  OrgKind,
  OrgSpec,
  UserSpec,
} from './types.js';

// cryptogen's constants (cmd/cryptogen/main.go).
const defaultHostnameTemplate = '{{.Prefix}}{{.Index}}';
const defaultCommonNameTemplate = '{{.Hostname}}.{{.Domain}}';
const defaultCaHostname = 'ca';
const tlsCaPrefix = 'tls';
const userBaseName = 'User';
const adminBaseName = 'Admin';
// cryptogen's subject defaults (internal/cryptogen/ca: subjectTemplate).
const defaultCountry = 'US';
const defaultProvince = 'California';
const defaultLocality = 'San Francisco';

const rootKeys = ['OrdererOrgs', 'PeerOrgs'] as const;
const orgKeys = ['Name', 'Domain', 'EnableNodeOUs', 'CA', 'Template', 'Specs', 'Users'] as const;
const subjectKeys = [
  'Country',
  'Province',
  'Locality',
  'OrganizationalUnit',
  'StreetAddress',
  'PostalCode',
] as const;
const nodeSpecKeys = ['Hostname', 'CommonName', ...subjectKeys, 'SANS'] as const;
const templateKeys = ['Count', 'Start', 'Hostname', 'SANS'] as const;
const usersKeys = ['Count'] as const;

type Fields = Readonly<Record<string, unknown>>;

/** Parses crypto-config.yaml text into a validated CryptoConfig with all defaults applied. */
export function parseCryptoConfig(text: string): CryptoConfig {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > configBytesMax) {
    throw configError(
      '',
      `the crypto-config is ${bytes} bytes; at most ${configBytesMax} bytes are accepted`,
    );
  }
  // YAML 1.1 because cryptogen reads the file with gopkg.in/yaml.v2 (so `yes` is a boolean).
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true, prettyErrors: true });
  const firstError = doc.errors[0];
  if (firstError !== undefined) {
    throw configError('', `the crypto-config is not valid YAML: ${firstError.message}`);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: yamlAliasesMax });
  } catch (error) {
    throw configError('', `the crypto-config cannot be read: ${errorMessage(error)}`);
  }
  return cryptoConfigFromValue(value);
}

/** Validates an already YAML-decoded crypto-config (same rules as parseCryptoConfig). */
export function cryptoConfigFromValue(value: unknown): CryptoConfig {
  const root = mapping(value, '', 'the crypto-config');
  if (root === undefined) {
    throw configError('', 'the crypto-config is empty; define PeerOrgs and/or OrdererOrgs');
  }
  checkKeys(root, rootKeys, '');
  const ordererValues = list(root.OrdererOrgs, 'OrdererOrgs', orgsMax);
  const peerValues = list(root.PeerOrgs, 'PeerOrgs', orgsMax);
  const orgCount = ordererValues.length + peerValues.length;
  if (orgCount === 0) {
    throw configError('', 'the crypto-config defines no organisation; add PeerOrgs or OrdererOrgs');
  }
  if (orgCount > orgsMax) {
    throw configError(
      '',
      `the crypto-config defines ${orgCount} organisations; at most ${orgsMax} are accepted`,
    );
  }
  const peerOrgs = peerValues.map((org, i) => parseOrg(org, `PeerOrgs[${i}]`, 'peer'));
  const ordererOrgs = ordererValues.map((org, i) => parseOrg(org, `OrdererOrgs[${i}]`, 'orderer'));
  checkUniqueDomains(peerOrgs);
  checkUniqueDomains(ordererOrgs);
  const identities = [...peerOrgs, ...ordererOrgs].reduce(
    (sum, org) => sum + org.nodes.length + org.users.length,
    0,
  );
  if (identities > identitiesMax) {
    throw configError(
      '',
      `the crypto-config defines ${identities} nodes and users; at most ${identitiesMax} are accepted`,
    );
  }
  return { peerOrgs, ordererOrgs };
}

/**
 * Re-checks what the file layout relies on (names that are safe folder names, distinct folders,
 * limits) for a CryptoConfig built in code rather than by parseCryptoConfig.
 */
export function checkCryptoConfig(config: CryptoConfig): void {
  const orgs = [...config.peerOrgs, ...config.ordererOrgs];
  if (orgs.length === 0 || orgs.length > orgsMax) {
    throw configError(
      '',
      `a crypto-config needs 1 to ${orgsMax} organisations, not ${orgs.length}`,
    );
  }
  let identities = 0;
  for (const org of orgs) {
    const path = org.configPath;
    checkDomain(org.domain, `${path}.Domain`);
    checkName(org.ca.commonName, `${path}.CA.CommonName`, 'CA common name');
    checkName(org.ca.tlsCommonName, `${path}.CA.CommonName`, 'TLS CA common name');
    if (org.nodes.length > nodesPerOrgMax || org.users.length > usersPerOrgMax + 1) {
      throw configError(path, `${path} has more nodes or users than the limits allow`);
    }
    for (const node of org.nodes) {
      checkName(node.commonName, `${node.source}.CommonName`, 'common name');
      if (node.sans.length > sansPerNodeMax) {
        throw configError(node.source, `${node.source} has more than ${sansPerNodeMax} SANS`);
      }
      node.sans.forEach((san, i) => {
        checkSan(san, `${node.source}.SANS[${i}]`);
      });
    }
    for (const user of org.users) checkName(user.commonName, `${path}.Users`, 'user name');
    if (org.users.filter((user) => user.admin).length !== 1) {
      throw configError(`${path}.Users`, `${path} must have exactly one Admin user`);
    }
    checkUniqueNodes(org.nodes, path);
    const users = new Set(org.users.map((user) => user.commonName.toLowerCase()));
    if (users.size !== org.users.length) {
      throw configError(`${path}.Users`, `${path} has two users with the same name`);
    }
    identities += org.nodes.length + org.users.length;
  }
  checkUniqueDomains(config.peerOrgs);
  checkUniqueDomains(config.ordererOrgs);
  if (identities > identitiesMax) {
    throw configError('', `${identities} nodes and users; at most ${identitiesMax} are accepted`);
  }
}

function parseOrg(value: unknown, path: string, kind: OrgKind): OrgSpec {
  const org = mapping(value, path, 'an organisation');
  if (org === undefined) throw configError(path, `${path} must be a mapping with Name and Domain`);
  checkKeys(org, orgKeys, path);
  const name = optionalString(org, 'Name', path) ?? '';
  const domain = requiredString(org, 'Domain', path);
  checkDomain(domain, `${path}.Domain`);
  const enableNodeOUs = optionalBoolean(org, 'EnableNodeOUs', path) ?? false;

  const specValues = list(org.Specs, `${path}.Specs`, nodesPerOrgMax);
  const template = mapping(org.Template, `${path}.Template`, 'Template') ?? {};
  checkKeys(template, templateKeys, `${path}.Template`);
  const count = optionalCount(template, 'Count', `${path}.Template`, nodesPerOrgMax);
  const start = optionalCount(template, 'Start', `${path}.Template`, templateStartMax);
  const hostnameTemplate = optionalString(template, 'Hostname', `${path}.Template`);
  const templateSans = stringList(template.SANS, `${path}.Template.SANS`, sansPerNodeMax);
  if (specValues.length + count > nodesPerOrgMax) {
    throw configError(
      path,
      `${path} defines ${specValues.length + count} nodes (Specs plus Template.Count); at most ${nodesPerOrgMax} are accepted`,
    );
  }

  // As cryptogen: explicit Specs first, then the templated nodes, then the CA, same rendering.
  const nodes: NodeSpec[] = specValues.map((spec, i) => {
    const specPath = `${path}.Specs[${i}]`;
    const fields = mapping(spec, specPath, 'a node spec');
    if (fields === undefined)
      throw configError(specPath, `${specPath} must be a mapping with Hostname`);
    return parseNodeSpec(fields, specPath, domain);
  });
  for (let i = 0; i < count; i++) {
    const index = start + i;
    const hostname = render(
      hostnameTemplate === undefined || hostnameTemplate === ''
        ? defaultHostnameTemplate
        : hostnameTemplate,
      { Prefix: kind, Index: index, Domain: domain },
      `${path}.Template.Hostname`,
    );
    nodes.push(
      renderNodeSpec(
        { hostname, commonName: undefined, sans: templateSans },
        domain,
        `${path}.Template (node ${index})`,
        `${path}.Template`,
      ),
    );
  }
  checkUniqueNodes(nodes, path);

  const ca = parseCa(org.CA, `${path}.CA`, domain);
  const usersFields = mapping(org.Users, `${path}.Users`, 'Users') ?? {};
  checkKeys(usersFields, usersKeys, `${path}.Users`);
  const userCount = optionalCount(usersFields, 'Count', `${path}.Users`, usersPerOrgMax);
  const users: UserSpec[] = [];
  // cryptogen's generateOrdererOrg makes only Admin; Users.Count applies to peer organisations.
  if (kind === 'peer') {
    for (let j = 1; j <= userCount; j++) {
      users.push({ commonName: `${userBaseName}${j}@${domain}`, admin: false });
    }
  }
  users.push({ commonName: `${adminBaseName}@${domain}`, admin: true });
  return { kind, name, domain, enableNodeOUs, ca, nodes, users, configPath: path };
}

type RawNodeSpec = {
  readonly hostname: string;
  readonly commonName: string | undefined;
  readonly sans: readonly string[];
};

function parseNodeSpec(fields: Fields, path: string, domain: string): NodeSpec {
  checkKeys(fields, nodeSpecKeys, path);
  const hostname = requiredString(fields, 'Hostname', path);
  // Subject fields of a node spec are accepted (cryptogen's NodeSpec has them) but, as in
  // cryptogen, only the CA block's values reach certificates.
  for (const key of subjectKeys) optionalString(fields, key, path);
  const raw: RawNodeSpec = {
    hostname,
    commonName: optionalString(fields, 'CommonName', path),
    sans: stringList(fields.SANS, `${path}.SANS`, sansPerNodeMax),
  };
  return renderNodeSpec(raw, domain, path, path);
}

/** cryptogen's renderNodeSpec: CommonName from its template, then SANS = [CN, Hostname, ...]. */
function renderNodeSpec(
  raw: RawNodeSpec,
  domain: string,
  source: string,
  fieldPath: string,
): NodeSpec {
  checkName(raw.hostname, `${fieldPath}.Hostname`, 'host name');
  const commonName = render(
    raw.commonName === undefined || raw.commonName === ''
      ? defaultCommonNameTemplate
      : raw.commonName,
    // As in Go, .CommonName is still empty while the common name itself is rendered.
    { Hostname: raw.hostname, Domain: domain, CommonName: '' },
    `${fieldPath}.CommonName`,
  );
  checkName(commonName, `${fieldPath}.CommonName`, 'common name');
  const data = { Hostname: raw.hostname, Domain: domain, CommonName: commonName };
  const sans = [commonName, raw.hostname];
  raw.sans.forEach((template, i) => {
    const sanPath = `${fieldPath}.SANS[${i}]`;
    const san = render(template, data, sanPath);
    checkSan(san, sanPath);
    sans.push(san);
  });
  // Unlike Go we drop repeats (e.g. a SANS entry equal to the CommonName): same names, no noise.
  const unique = [...new Set(sans)];
  if (unique.length > sansPerNodeMax) {
    throw configError(
      `${fieldPath}.SANS`,
      `${fieldPath}.SANS gives ${unique.length} names with the implicit CommonName and Hostname; at most ${sansPerNodeMax} are accepted`,
    );
  }
  return { hostname: raw.hostname, commonName, sans: unique, source };
}

function parseCa(value: unknown, path: string, domain: string): CaSpec {
  const fields = mapping(value, path, 'the CA block') ?? {};
  checkKeys(fields, nodeSpecKeys, path);
  const hostnameField = optionalString(fields, 'Hostname', path);
  const hostname =
    hostnameField === undefined || hostnameField === '' ? defaultCaHostname : hostnameField;
  const rendered = renderNodeSpec(
    {
      hostname,
      commonName: optionalString(fields, 'CommonName', path),
      sans: stringList(fields.SANS, `${path}.SANS`, sansPerNodeMax),
    },
    domain,
    path,
    path,
  );
  const tlsCommonName = `${tlsCaPrefix}${rendered.commonName}`;
  checkName(tlsCommonName, `${path}.CommonName`, 'TLS CA common name (tls + CommonName)');
  const country = subjectField(fields, 'Country', path) ?? defaultCountry;
  if (!/^[A-Za-z]{2}$/.test(country)) {
    throw configError(
      `${path}.Country`,
      `${path}.Country must be a two-letter ISO 3166 country code such as US (RFC 5280 bounds it to 2 characters)`,
    );
  }
  const subject: CaSubject = {
    country,
    province: subjectField(fields, 'Province', path) ?? defaultProvince,
    locality: subjectField(fields, 'Locality', path) ?? defaultLocality,
    ...optionalEntry('organizationalUnit', subjectField(fields, 'OrganizationalUnit', path)),
    ...optionalEntry('streetAddress', subjectField(fields, 'StreetAddress', path)),
    ...optionalEntry('postalCode', subjectField(fields, 'PostalCode', path)),
  };
  return { hostname, commonName: rendered.commonName, tlsCommonName, subject };
}

/** Go treats an empty subject field as absent (subjectTemplateAdditional). */
function subjectField(fields: Fields, key: string, path: string): string | undefined {
  const value = optionalString(fields, key, path);
  if (value === undefined || value === '') return undefined;
  if (value.length > subjectFieldCharsMax || hasControlCharacter(value)) {
    throw configError(
      `${path}.${key}`,
      `${path}.${key} must be at most ${subjectFieldCharsMax} characters without control characters`,
    );
  }
  return value;
}

function optionalEntry<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]: string });
}

function render(template: string, data: TemplateData, path: string): string {
  const result = renderTemplate(template, data);
  if (!result.ok) throw configError(path, `${path}: ${result.reason}`);
  return result.text;
}

// --- checks ----------------------------------------------------------------------------------

// A domain names a folder and goes into certificates: DNS-style labels only.
const domainPattern =
  /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/;

function checkDomain(domain: string, path: string): void {
  if (domain.length > nameCharsMax || !domainPattern.test(domain)) {
    throw configError(
      path,
      `${path} must be a DNS name such as org1.example.com (letters, digits, -, _ and dots; at most ${nameCharsMax} characters), not "${domain}"`,
    );
  }
}

/** Host and common names become folder names and DNS SANs: printable ASCII, no separators. */
function checkName(name: string, path: string, what: string): void {
  if (name === '') throw configError(path, `${path}: the ${what} must not be empty`);
  if (name.length > nameCharsMax) {
    throw configError(
      path,
      `${path}: the ${what} "${name}" is longer than ${nameCharsMax} characters`,
    );
  }
  if (!/^[\x20-\x7e]+$/.test(name) || /[/\\]/.test(name) || name === '.' || name === '..') {
    throw configError(
      path,
      `${path}: the ${what} "${name}" must be printable ASCII without / or \\ (it names a folder and a DNS name)`,
    );
  }
}

function checkSan(san: string, path: string): void {
  if (san === '' || san.length > nameCharsMax || !/^[\x21-\x7e]+$/.test(san)) {
    throw configError(
      path,
      `${path} must be a DNS name or IP address of printable ASCII without spaces (at most ${nameCharsMax} characters), not "${san}"`,
    );
  }
  // Go's net.ParseIP rejects zones (fe80::1%eth0), so cryptogen would make those DNS names.
  if (isIP(san) === 6 && san.includes('.') && !/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(san)) {
    throw configError(path, `${path}: write the IPv6 address "${san}" in hexadecimal form`);
  }
}

function checkUniqueNodes(nodes: readonly NodeSpec[], path: string): void {
  const seen = new Map<string, string>();
  for (const node of nodes) {
    const key = node.commonName.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      throw configError(
        node.source,
        `${node.source} has CommonName "${node.commonName}", already used by ${first}; each node of ${path} needs its own (its folder is named after it)`,
      );
    }
    seen.set(key, node.source);
  }
}

function checkUniqueDomains(orgs: readonly OrgSpec[]): void {
  const seen = new Map<string, string>();
  for (const org of orgs) {
    const key = org.domain.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) {
      throw configError(
        `${org.configPath}.Domain`,
        `${org.configPath}.Domain "${org.domain}" is already the domain of ${first}; organisations need distinct domains (the domain names their folder)`,
      );
    }
    seen.set(key, org.configPath);
  }
}

function hasControlCharacter(text: string): boolean {
  // eslint-disable-next-line no-control-regex -- control characters are what we look for
  return /[\x00-\x1f\x7f]/.test(text);
}

// --- typed field readers (null means absent, as yaml.v2 leaves Go zero values) ---------------

function mapping(value: unknown, path: string, what: string): Fields | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw configError(
      path,
      `${path || 'the document'} must be a mapping (${what}), not ${kindOf(value)}`,
    );
  }
  return value as Fields;
}

function list(value: unknown, path: string, max: number): readonly unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    throw configError(path, `${path} must be a list, not ${kindOf(value)}`);
  }
  if (value.length > max) {
    throw configError(path, `${path} has ${value.length} entries; at most ${max} are accepted`);
  }
  return value as readonly unknown[];
}

function stringList(value: unknown, path: string, max: number): readonly string[] {
  return list(value, path, max).map((item, i) => {
    if (typeof item !== 'string') {
      throw configError(
        `${path}[${i}]`,
        `${path}[${i}] must be a string, not ${kindOf(item)}; quote it`,
      );
    }
    return item;
  });
}

function checkKeys(fields: Fields, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(fields)) {
    if (allowed.includes(key)) continue;
    const where = path === '' ? key : `${path}.${key}`;
    const near = allowed.find((candidate) => candidate.toLowerCase() === key.toLowerCase());
    throw configError(
      where,
      near === undefined
        ? `${where} is not a cryptogen field; expected one of ${allowed.join(', ')}`
        : `${where} is not a cryptogen field; did you mean ${near}? (field names are case-sensitive)`,
    );
  }
}

function optionalString(fields: Fields, key: string, path: string): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    throw configError(
      `${path}.${key}`,
      `${path}.${key} must be a string, not ${kindOf(value)}; quote it`,
    );
  }
  return value;
}

function requiredString(fields: Fields, key: string, path: string): string {
  const value = optionalString(fields, key, path);
  if (value === undefined || value === '') {
    throw configError(`${path}.${key}`, `${path}.${key} is required`);
  }
  return value;
}

function optionalBoolean(fields: Fields, key: string, path: string): boolean | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    throw configError(
      `${path}.${key}`,
      `${path}.${key} must be true or false, not ${kindOf(value)}`,
    );
  }
  return value;
}

function optionalCount(fields: Fields, key: string, path: string, max: number): number {
  const value = fields[key];
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw configError(`${path}.${key}`, `${path}.${key} must be a non-negative integer`);
  }
  if (value > max) {
    throw configError(`${path}.${key}`, `${path}.${key} is ${value}; at most ${max} is accepted`);
  }
  return value;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function configError(path: string, message: string) {
  return cofferError('CRYPTOGEN_E_CONFIG', message, path === '' ? {} : { path });
}
