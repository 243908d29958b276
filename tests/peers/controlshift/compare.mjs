// Compare a warehouse table with gen.mjs's model of a sequence of exports.
//   node compare.mjs --driver sqlite|postgres --db PATH|URL --table T
//                    --steps full:1,incremental:1,incremental:2[,full:2:ROWS]
//                    [--target NAME]
// Every column of tables.json is compared (booleans t/f = 1/0 = true/false,
// numbers by value, timestamps with ' ' or 'T'); columns added later
// through the peer are not. Prints "ok N rows" or the first differences;
// exit 0 when equal, 1 otherwise.
import { execFileSync } from 'node:child_process';
import { TABLES, model } from './gen.mjs';

const a = process.argv.slice(2);
const arg = (k, d) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : d; };
const driver = arg('--driver', 'sqlite'), db = arg('--db'), table = arg('--table');
const target = arg('--target', table).split('.').map((x) => `"${x}"`).join('.'); // [schema.]table
const steps = arg('--steps', '').split(',').filter(Boolean).map((s) => {
  const [kind, seq, rows] = s.split(':');
  return { kind, seq: Number(seq), rows: rows ? Number(rows) : undefined };
});

let got;
if (driver === 'sqlite') {
  const out = execFileSync('sqlite3', ['-json', db, `SELECT * FROM ${target} ORDER BY id`], { maxBuffer: 1 << 30 }).toString();
  got = out.trim() ? JSON.parse(out) : [];
} else {
  const out = execFileSync('psql', [db, '-XAtq', '-c', `SELECT coalesce(json_agg(x ORDER BY id), '[]'::json) FROM ${target} x`], { maxBuffer: 1 << 30 }).toString();
  got = JSON.parse(out);
}
const want = model(table, steps);
const cols = TABLES[table];
const diffs = [];
const same = (c, w, g) => {
  if (w === null || w === undefined) return g === null || g === undefined;
  if (g === null || g === undefined) return false;
  const t = c.sql_type;
  if (t === 'boolean') return (w === 't') === (g === 1 || g === true || g === 't' || g === 'true');
  if (/^(integer|bigint|smallint|numeric|double)/.test(t)) return Number(w) === Number(g);
  if (t.startsWith('timestamp')) return String(g).replace('T', ' ') === w;
  return String(g) === w;
};
const ids = got.map((r) => Number(r.id));
if (new Set(ids).size !== ids.length) diffs.push(`an id appears twice (${ids.length} rows, ${new Set(ids).size} ids)`);
if (got.length !== want.size) diffs.push(`${got.length} rows, expected ${want.size}`);
for (const r of got) {
  const w = want.get(Number(r.id));
  if (!w) { diffs.push(`id ${r.id} should not be there`); continue; }
  for (const c of cols) {
    if (!same(c, w[c.name], r[c.name])) diffs.push(`id ${r.id} ${c.name}: ${JSON.stringify(r[c.name])}, expected ${JSON.stringify(w[c.name])}`);
  }
}
if (diffs.length) {
  console.log(diffs.slice(0, 8).join('\n'));
  process.exit(1);
}
console.log(`ok ${got.length} rows`);
