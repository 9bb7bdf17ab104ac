// Summarises a V8 .heapsnapshot (BENCH_LEDGER_HEAP_SNAPSHOT=DIR node bench/ledger.mjs): self
// size and count of heap objects grouped by type and constructor (strings by length), read
// as a stream so that snapshots larger than V8's longest string still work.
//
//   node bench/lib/heapsnapshot-top.mjs FILE.heapsnapshot [TOP]
import { createReadStream } from 'node:fs';
import process from 'node:process';

const [file, topArg] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: node bench/lib/heapsnapshot-top.mjs FILE.heapsnapshot [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 25);

/**
 * Reads the snapshot's meta (JSON before "nodes"), the "nodes" numbers and the "strings"
 * array, skipping everything else; returns { meta, nodes: Float64Array-like, strings }.
 */
async function readSnapshot(path) {
  let section = 'head';
  let head = '';
  const nodes = [];
  const strings = [];
  let number = '';
  let inString = false;
  let escaped = false;
  let current = '';
  let pending = '';
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    let text = pending + chunk;
    pending = '';
    if (section === 'head') {
      const at = text.indexOf('"nodes":[');
      if (at < 0) {
        head += text.slice(0, -16);
        pending = text.slice(-16);
        continue;
      }
      head += text.slice(0, at);
      text = text.slice(at + '"nodes":['.length);
      section = 'nodes';
    }
    if (section === 'nodes') {
      let i = 0;
      for (; i < text.length; i += 1) {
        const c = text.charCodeAt(i);
        if (c >= 48 && c <= 57) number += text[i];
        else {
          if (number !== '') nodes.push(Number(number));
          number = '';
          if (c === 93) break; // ]
        }
      }
      if (i === text.length) continue;
      text = text.slice(i + 1);
      section = 'skip';
    }
    if (section === 'skip') {
      const at = text.indexOf('"strings":[');
      if (at < 0) {
        pending = text.slice(-16);
        continue;
      }
      text = text.slice(at + '"strings":['.length);
      section = 'strings';
    }
    if (section === 'strings') {
      for (let i = 0; i < text.length; i += 1) {
        const ch = text[i];
        if (inString) {
          if (escaped) {
            current += ch;
            escaped = false;
          } else if (ch === '\\') {
            current += ch;
            escaped = true;
          } else if (ch === '"') {
            inString = false;
            strings.push(current);
            current = '';
          } else {
            current += ch;
          }
        } else if (ch === '"') {
          inString = true;
        } else if (ch === ']') {
          section = 'done';
          break;
        }
      }
    }
  }
  const meta = JSON.parse(`${head.replace(/,\s*$/, '')}}`).snapshot.meta;
  return { meta, nodes, strings };
}

const { meta, nodes, strings } = await readSnapshot(file);
const fields = meta.node_fields;
const stride = fields.length;
const typeAt = fields.indexOf('type');
const nameAt = fields.indexOf('name');
const sizeAt = fields.indexOf('self_size');
const types = meta.node_types[typeAt];
const groups = new Map();
let total = 0;
for (let i = 0; i < nodes.length; i += stride) {
  const type = types[nodes[i + typeAt]];
  const size = nodes[i + sizeAt];
  total += size;
  let key;
  if (type === 'string' || type === 'concatenated string' || type === 'sliced string') {
    key = `(string, ${size <= 32 ? '≤32' : size <= 96 ? '33-96' : size <= 1024 ? '97-1024' : '>1024'} bytes)`;
  } else if (type === 'object' || type === 'native' || type === 'closure') {
    key = `${type} ${String(strings[nodes[i + nameAt]]).slice(0, 60)}`;
  } else {
    key = `(${type})`;
  }
  const group = groups.get(key) ?? { size: 0, count: 0 };
  group.size += size;
  group.count += 1;
  groups.set(key, group);
}
process.stdout.write(
  `${file}: ${(total / 2 ** 20).toFixed(1)} MiB in ${nodes.length / stride} objects (self sizes)\n`,
);
for (const [key, group] of [...groups.entries()]
  .sort((a, b) => b[1].size - a[1].size)
  .slice(0, top)) {
  process.stdout.write(
    `${(group.size / 2 ** 20).toFixed(1).padStart(8)} MiB ${String(group.count).padStart(9)}  ${key}\n`,
  );
}
