import { describe, it, expect } from 'vitest';
import { isCofferError } from '../../../src/errors/index.js';
import {
  checkCryptoConfig,
  nodesPerOrgMax,
  parseCryptoConfig,
  usersPerOrgMax,
  type CryptoConfig,
} from '../../../src/msp/cryptogen/index.js';
import { renderTemplate } from '../../../src/msp/cryptogen/template.js';

/** The error a config raises, or a failure when it parses. */
function configError(text: string): { message: string; path: unknown } {
  try {
    parseCryptoConfig(text);
  } catch (error) {
    if (isCofferError(error, 'CRYPTOGEN_E_CONFIG')) {
      return { message: error.message, path: error.details.path };
    }
    throw error;
  }
  throw new Error(`config parsed but should not have:\n${text}`);
}

describe('renderTemplate (the Go text/template subset of crypto-config)', () => {
  it('substitutes fields, with or without spaces inside the braces', () => {
    expect(renderTemplate('{{.Prefix}}{{ .Index }}', { Prefix: 'peer', Index: 3 })).toEqual({
      ok: true,
      text: 'peer3',
    });
    expect(renderTemplate('plain', {})).toEqual({ ok: true, text: 'plain' });
  });

  it('reports unknown fields, unsupported actions and unclosed braces', () => {
    expect(renderTemplate('{{.Nope}}', { Hostname: 'a' })).toMatchObject({ ok: false });
    expect(renderTemplate('{{if .Hostname}}x{{end}}', { Hostname: 'a' })).toMatchObject({
      ok: false,
    });
    expect(renderTemplate('{{.Hostname', { Hostname: 'a' })).toMatchObject({ ok: false });
    // Not own properties of the data are not fields.
    expect(renderTemplate('{{.constructor}}', {})).toMatchObject({ ok: false });
  });
});

describe('parseCryptoConfig: defaults (as Fabric cryptogen)', () => {
  const config = parseCryptoConfig(`
OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    Specs:
      - Hostname: orderer
    Users:
      Count: 5
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template:
      Count: 2
    Users:
      Count: 2
`);

  it('names the CA ca.<domain> and the TLS CA tlsca.<domain>, with the default subject', () => {
    const org = config.peerOrgs[0];
    expect(org?.ca).toEqual({
      hostname: 'ca',
      commonName: 'ca.org1.example.com',
      tlsCommonName: 'tlsca.org1.example.com',
      subject: { country: 'US', province: 'California', locality: 'San Francisco' },
    });
    expect(org?.enableNodeOUs).toBe(true);
    expect(config.ordererOrgs[0]?.enableNodeOUs).toBe(false);
  });

  it('makes peer<i> nodes from the template, CN <host>.<domain>, SANs CN and host name', () => {
    expect(config.peerOrgs[0]?.nodes).toEqual([
      {
        hostname: 'peer0',
        commonName: 'peer0.org1.example.com',
        sans: ['peer0.org1.example.com', 'peer0'],
        source: 'PeerOrgs[0].Template (node 0)',
      },
      {
        hostname: 'peer1',
        commonName: 'peer1.org1.example.com',
        sans: ['peer1.org1.example.com', 'peer1'],
        source: 'PeerOrgs[0].Template (node 1)',
      },
    ]);
    expect(config.ordererOrgs[0]?.nodes.map((node) => node.commonName)).toEqual([
      'orderer.example.com',
    ]);
  });

  it('makes User1..UserN then Admin for peer orgs, and only Admin for orderer orgs', () => {
    expect(config.peerOrgs[0]?.users).toEqual([
      { commonName: 'User1@org1.example.com', admin: false },
      { commonName: 'User2@org1.example.com', admin: false },
      { commonName: 'Admin@org1.example.com', admin: true },
    ]);
    expect(config.ordererOrgs[0]?.users).toEqual([
      { commonName: 'Admin@example.com', admin: true },
    ]);
  });

  it('uses the orderer prefix for orderer templates', () => {
    const parsed = parseCryptoConfig(
      'OrdererOrgs:\n  - Domain: example.com\n    Template:\n      Count: 2\n      Start: 1\n',
    );
    expect(parsed.ordererOrgs[0]?.nodes.map((node) => node.commonName)).toEqual([
      'orderer1.example.com',
      'orderer2.example.com',
    ]);
  });

  it('reads booleans as YAML 1.1 does (cryptogen uses yaml.v2)', () => {
    const parsed = parseCryptoConfig('PeerOrgs:\n  - Domain: a.example\n    EnableNodeOUs: yes\n');
    expect(parsed.peerOrgs[0]?.enableNodeOUs).toBe(true);
  });

  it('treats null sections as absent, as yaml.v2 leaves Go zero values', () => {
    const parsed = parseCryptoConfig(
      'PeerOrgs:\n  - Domain: a.example\n    CA:\n    Specs:\n    Template:\n    Users:\nOrdererOrgs:\n',
    );
    expect(parsed.peerOrgs[0]?.nodes).toEqual([]);
    expect(parsed.peerOrgs[0]?.users.map((user) => user.commonName)).toEqual(['Admin@a.example']);
    expect(parsed.ordererOrgs).toEqual([]);
  });
});

describe('parseCryptoConfig: templates and explicit values', () => {
  const config = parseCryptoConfig(`
PeerOrgs:
  - Name: Org5
    Domain: org5.example.com
    CA:
      Hostname: rootca
      Country: DE
      Province: Bavaria
      Locality: Munich
      OrganizationalUnit: Fabric
      StreetAddress: Main Street 1
      PostalCode: "80331"
    Specs:
      - Hostname: foo
        CommonName: foo27.org5.example.com
        SANS:
          - "bar.{{.Domain}}"
          - "{{.Hostname}}.org6.net"
          - "{{.CommonName}}"
          - 172.16.10.31
      - Hostname: baz
        CommonName: "{{.Hostname}}.custom.net"
    Template:
      Count: 2
      Start: 5
      Hostname: "node{{.Index}}-{{.Prefix}}"
      SANS:
        - "{{.Hostname}}.alt.{{.Domain}}"
`);
  const org = config.peerOrgs[0];

  it('renders Specs first, then template nodes from Start with the Hostname pattern', () => {
    expect(org?.nodes.map((node) => node.commonName)).toEqual([
      'foo27.org5.example.com',
      'baz.custom.net',
      'node5-peer.org5.example.com',
      'node6-peer.org5.example.com',
    ]);
  });

  it('renders SANS with .Hostname, .Domain and .CommonName after the implicit two', () => {
    expect(org?.nodes[0]?.sans).toEqual([
      'foo27.org5.example.com',
      'foo',
      'bar.org5.example.com',
      'foo.org6.net',
      '172.16.10.31',
    ]);
    expect(org?.nodes[3]?.sans).toEqual([
      'node6-peer.org5.example.com',
      'node6-peer',
      'node6-peer.alt.org5.example.com',
    ]);
  });

  it('takes the CA host name and subject from the CA block', () => {
    expect(org?.ca).toEqual({
      hostname: 'rootca',
      commonName: 'rootca.org5.example.com',
      tlsCommonName: 'tlsrootca.org5.example.com',
      subject: {
        country: 'DE',
        province: 'Bavaria',
        locality: 'Munich',
        organizationalUnit: 'Fabric',
        streetAddress: 'Main Street 1',
        postalCode: '80331',
      },
    });
  });
});

describe('parseCryptoConfig: errors name the failing field', () => {
  const twoOrgs = (second: string): string =>
    `PeerOrgs:\n  - Domain: org1.example.com\n  - Domain: org2.example.com\n${second}`;

  const cases: readonly (readonly [string, string, string, string | undefined])[] = [
    [
      'negative template count',
      twoOrgs('    Template:\n      Count: -1\n'),
      'PeerOrgs[1].Template.Count must be a non-negative integer',
      'PeerOrgs[1].Template.Count',
    ],
    [
      'fractional user count',
      twoOrgs('    Users:\n      Count: 1.5\n'),
      'PeerOrgs[1].Users.Count must be a non-negative integer',
      'PeerOrgs[1].Users.Count',
    ],
    [
      'missing domain',
      'PeerOrgs:\n  - Name: Org1\n',
      'PeerOrgs[0].Domain is required',
      'PeerOrgs[0].Domain',
    ],
    [
      'a lower-case field name',
      'PeerOrgs:\n  - Domain: a.example\n    CA:\n      hostname: ca\n',
      'PeerOrgs[0].CA.hostname is not a cryptogen field; did you mean Hostname?',
      'PeerOrgs[0].CA.hostname',
    ],
    [
      'an unknown field',
      'OrdererOrgs:\n  - Domain: a.example\n    Peers: 3\n',
      'OrdererOrgs[0].Peers is not a cryptogen field; expected one of Name, Domain',
      'OrdererOrgs[0].Peers',
    ],
    [
      'a spec without host name',
      'PeerOrgs:\n  - Domain: a.example\n    Specs:\n      - CommonName: x\n',
      'PeerOrgs[0].Specs[0].Hostname is required',
      'PeerOrgs[0].Specs[0].Hostname',
    ],
    [
      'an unknown template field',
      'PeerOrgs:\n  - Domain: a.example\n    Specs:\n      - Hostname: p\n        SANS: ["{{.Nope}}"]\n',
      'PeerOrgs[0].Specs[0].SANS[0]: unknown field .Nope',
      'PeerOrgs[0].Specs[0].SANS[0]',
    ],
    [
      'a Go template action',
      'PeerOrgs:\n  - Domain: a.example\n    Template:\n      Count: 1\n      Hostname: "{{if .Index}}x{{end}}"\n',
      'PeerOrgs[0].Template.Hostname: "{{if .Index}}" is not supported',
      'PeerOrgs[0].Template.Hostname',
    ],
    [
      'a Specs node colliding with a template node',
      'PeerOrgs:\n  - Domain: a.example\n    Specs:\n      - Hostname: peer0\n    Template:\n      Count: 1\n',
      'PeerOrgs[0].Template (node 0) has CommonName "peer0.a.example", already used by PeerOrgs[0].Specs[0]',
      'PeerOrgs[0].Template (node 0)',
    ],
    [
      'two orgs with one domain',
      'PeerOrgs:\n  - Domain: a.example\n  - Domain: A.example\n',
      'PeerOrgs[1].Domain "A.example" is already the domain of PeerOrgs[0]',
      'PeerOrgs[1].Domain',
    ],
    [
      'too many nodes',
      `PeerOrgs:\n  - Domain: a.example\n    Template:\n      Count: ${nodesPerOrgMax + 1}\n`,
      `PeerOrgs[0].Template.Count is ${nodesPerOrgMax + 1}; at most ${nodesPerOrgMax} is accepted`,
      'PeerOrgs[0].Template.Count',
    ],
    [
      'too many users',
      `PeerOrgs:\n  - Domain: a.example\n    Users:\n      Count: ${usersPerOrgMax + 1}\n`,
      `PeerOrgs[0].Users.Count is ${usersPerOrgMax + 1}; at most ${usersPerOrgMax} is accepted`,
      'PeerOrgs[0].Users.Count',
    ],
    [
      'a three-letter country',
      'PeerOrgs:\n  - Domain: a.example\n    CA:\n      Country: USA\n',
      'PeerOrgs[0].CA.Country must be a two-letter ISO 3166 country code',
      'PeerOrgs[0].CA.Country',
    ],
    [
      'a host name with a slash',
      'PeerOrgs:\n  - Domain: a.example\n    Specs:\n      - Hostname: ../../etc\n',
      'PeerOrgs[0].Specs[0].Hostname: the host name "../../etc" must be printable ASCII without /',
      'PeerOrgs[0].Specs[0].Hostname',
    ],
    [
      'a domain that is not a DNS name',
      'PeerOrgs:\n  - Domain: "org 1"\n',
      'PeerOrgs[0].Domain must be a DNS name',
      'PeerOrgs[0].Domain',
    ],
    [
      'a number where a string belongs',
      'PeerOrgs:\n  - Domain: a.example\n    Specs:\n      - Hostname: 7\n',
      'PeerOrgs[0].Specs[0].Hostname must be a string, not number 7; quote it',
      'PeerOrgs[0].Specs[0].Hostname',
    ],
    [
      'a mapping where a list belongs',
      'PeerOrgs:\n  Domain: a.example\n',
      'PeerOrgs must be a list',
      'PeerOrgs',
    ],
    ['no organisation', 'PeerOrgs: []\n', 'the crypto-config defines no organisation', undefined],
    ['an empty document', '', 'the crypto-config is empty', undefined],
    ['not YAML', 'PeerOrgs: [\n', 'the crypto-config is not valid YAML', undefined],
    [
      'a duplicate key',
      'PeerOrgs:\n  - Domain: a.example\n    Domain: b.example\n',
      'the crypto-config is not valid YAML',
      undefined,
    ],
  ];

  for (const [name, text, message, path] of cases) {
    it(`rejects ${name}`, () => {
      const error = configError(text);
      expect(error.message).toContain(message);
      expect(error.path).toBe(path);
    });
  }

  it('rejects a file larger than configBytesMax', () => {
    const error = configError(`# ${'x'.repeat(1_048_576)}\nPeerOrgs: []\n`);
    expect(error.message).toContain('at most 1048576 bytes');
  });
});

describe('checkCryptoConfig (configs built in code)', () => {
  it('accepts a parsed config and rejects unsafe folder names', () => {
    const parsed = parseCryptoConfig('PeerOrgs:\n  - Domain: a.example\n');
    expect(() => {
      checkCryptoConfig(parsed);
    }).not.toThrow();
    const org = parsed.peerOrgs[0];
    if (org === undefined) throw new Error('no org');
    const unsafe: CryptoConfig = {
      peerOrgs: [{ ...org, users: [{ commonName: '../escape', admin: true }] }],
      ordererOrgs: [],
    };
    expect(() => {
      checkCryptoConfig(unsafe);
    }).toThrow(/must be printable ASCII without \//);
  });
});
