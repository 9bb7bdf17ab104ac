// OpenZeppelin's ERC-20 (@openzeppelin/contracts, unmodified) compiled with solc from npm, as
// issue 9's tests deploy it: test/fixtures/evm/CofferToken.sol mints the supply to its deployer.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import solc from 'solc';

export type Compiled = { readonly abi: unknown[]; readonly bytecode: string };

const source = path.resolve(import.meta.dirname, '../fixtures/evm/CofferToken.sol');
/** The node_modules folder holding @openzeppelin/contracts (solc resolves imports there). */
const modules = path.resolve(
  createRequire(import.meta.url).resolve('@openzeppelin/contracts/package.json'),
  '../../..',
);

type SolcCompile = (
  input: string,
  options: { import: (file: string) => { contents: string } | { error: string } },
) => string;

let compiled: Compiled | undefined;

/** CofferToken's ABI and creation bytecode (compiled once per process, about a second). */
export function cofferToken(): Compiled {
  if (compiled !== undefined) return compiled;
  const input = {
    language: 'Solidity',
    sources: { 'CofferToken.sol': { content: readFileSync(source, 'utf8') } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  // solc ships no types for its compile entry point.
  const compile = (solc as unknown as { compile: SolcCompile }).compile;
  const output = JSON.parse(
    compile(JSON.stringify(input), {
      import: (file: string) => {
        try {
          return { contents: readFileSync(path.join(modules, file), 'utf8') };
        } catch (error) {
          return { error: String(error) };
        }
      },
    }),
  ) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts: Record<
      string,
      Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>
    >;
  };
  const errors = (output.errors ?? []).filter((error) => error.severity === 'error');
  if (errors.length > 0) throw new Error(errors.map((error) => error.formattedMessage).join('\n'));
  const contract = output.contracts['CofferToken.sol']?.['CofferToken'];
  if (contract === undefined) throw new Error('solc produced no CofferToken');
  compiled = { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
  return compiled;
}
