// Deterministic ControlShift bulk-data exports for the tests and the
// benchmark: CSV text with the published headers (tables.json), values
// with commas, quotes, newlines, empty strings and NULLs (an empty
// unquoted field), and the model of what a warehouse holds after a
// sequence of full and incremental exports.
//
// Exports (seq counts from 1):
//   full seq s         ids 1 .. 20 + 10*(s-1) (or 1 .. rows), version "f<s>"
//   incremental seq k  ids 18+6(k-1) .. +7, version "i<k>", and the first
//                      id once more at the end (a duplicate in the file)
// Every full overlaps nothing it has to keep; every incremental repeats a
// few ids already loaded (those rows must not be appended again).
//
// CLI (benchmark): node gen.mjs --table T --rows N [--seq S] > file.csv
import fs from 'node:fs';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
export const TABLES = JSON.parse(fs.readFileSync(path.join(here, 'tables.json'), 'utf8'));

// Columns added through the peer (/__peer/add_column): {table: [{name, sql_type}]}
export const EXTRA = {};

export function columns(table) {
  const t = TABLES[table];
  if (!t) throw new Error(`unknown table ${table}`);
  return t.concat(EXTRA[table] || []);
}

export function exportIds(kind, seq, rows) {
  if (kind === 'full') {
    const n = rows || 20 + 10 * (seq - 1);
    return Array.from({ length: n }, (_, i) => i + 1);
  }
  const base = 18 + 6 * (seq - 1);
  const ids = Array.from({ length: rows || 8 }, (_, i) => base + i);
  ids.push(base); // the same id twice in one file
  return ids;
}

const TEXTS = [
  (t, id, v) => `${t} ${id} ${v}`,
  (t, id, v) => `comma, separated ${id} ${v}`,
  (t, id, v) => `say "hi" ${id} ${v}`,
  (t, id, v) => `line one ${id}\nline two ${v}`,
  () => '',            // the empty string
  () => null,          // NULL
  (t, id, v) => `café ✓ ${id} ${v}`,
  (t, id, v) => `multi\r\nline, "quoted", ${v}`,
];

// Value of column c (tables.json entry) for row `id` of version v; null
// is NULL. `dup` marks the second copy of a duplicated row.
export function value(table, c, id, v, dup) {
  const ty = c.sql_type;
  const h = id * 31 + c.name.length * 7 + (dup ? 3 : 0);
  if (c.name === 'id') return String(id);
  if (h % 13 === 0 && c.nullable !== false) return null;
  if (/^(integer|bigint|smallint)/.test(ty)) return String((id * 7 + v.length) % 100000);
  if (ty === 'boolean') return h % 2 ? 't' : 'f';
  if (ty.startsWith('timestamp')) {
    const d = 1 + (id % 28), s = h % 60;
    return `2024-02-${String(d).padStart(2, '0')} 10:${String(id % 60).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  }
  if (ty === 'date') return `2024-03-${String(1 + (id % 28)).padStart(2, '0')}`;
  if (ty.startsWith('numeric')) return `${id % 100}.${String(h % 100).padStart(2, '0')}`.slice(0, 6);
  if (ty === 'double precision') return `${id}.5`;
  if (ty === 'hstore') return `"k${id}"=>"v, ${v}"`;
  return TEXTS[h % TEXTS.length](table, id, v + (dup ? ' dup' : ''));
}

export function csvField(s) {
  if (s === null) return '';
  if (s === '' || /[",\r\n]/.test(s)) return '"' + s.replace(/"/g, '""') + '"';
  return s;
}

// Rows of an export as arrays of values (header first), in file order.
export function* exportRows(table, kind, seq, rows) {
  const cols = columns(table);
  const v = (kind === 'full' ? 'f' : 'i') + seq;
  yield cols.map((c) => c.name);
  const ids = exportIds(kind, seq, rows);
  const seen = new Set();
  for (const id of ids) {
    const dup = seen.has(id);
    seen.add(id);
    yield cols.map((c) => value(table, c, id, v, dup));
  }
}

export function* exportCsv(table, kind, seq, rows) {
  let batch = [];
  for (const r of exportRows(table, kind, seq, rows)) {
    batch.push(r.map(csvField).join(',') + '\n');
    if (batch.length >= 1000) { yield batch.join(''); batch = []; }
  }
  if (batch.length) yield batch.join('');
}

// The table after applying `steps` ([{kind, seq, rows}]) in order: full
// replaces, incremental adds ids not yet there (first copy in the file).
// Returns Map id -> {col: value}.
export function model(table, steps) {
  let m = new Map();
  for (const s of steps) {
    const it = exportRows(table, s.kind, s.seq, s.rows);
    const hdr = it.next().value;
    if (s.kind === 'full') m = new Map();
    const fresh = new Map();
    for (const r of it) {
      const o = Object.fromEntries(hdr.map((h, i) => [h, r[i]]));
      const id = Number(o.id);
      if (s.kind === 'full') { if (!m.has(id)) m.set(id, o); }
      else if (!m.has(id) && !fresh.has(id)) fresh.set(id, o);
    }
    for (const [k, o] of fresh) m.set(k, o);
  }
  return m;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const a = process.argv.slice(2);
  const arg = (k, d) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : d; };
  const table = arg('--table', 'members');
  const rows = Number(arg('--rows', '0')) || undefined;
  const seq = Number(arg('--seq', '1'));
  const kind = arg('--kind', 'full');
  const out = process.stdout;
  const it = exportCsv(table, kind, seq, rows);
  const pump = () => {
    for (;;) {
      const n = it.next();
      if (n.done) return;
      if (!out.write(n.value)) { out.once('drain', pump); return; }
    }
  };
  pump();
}
