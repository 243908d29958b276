// SPDX-License-Identifier: MIT
// Compare a warehouse with a model written by tools/directdata_gen.
//   node tests/peers/vault/compare.mjs MODEL.json WAREHOUSE.db
//   node tests/peers/vault/compare.mjs MODEL.json postgresql://...  (psql)
// Prints the differences (at most 20) and exits 1 when there are any.
// Values are compared by Vault type: Boolean true/false = 1/0, Number as a
// number, DateTime as the instant (a TIMESTAMPTZ comes back with an
// offset), everything else as text; a missing or empty value is NULL.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const [modelPath, db] = process.argv.slice(2);
const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
const pg = /^postgres(ql)?:\/\//.test(db);
const q = pg
  ? (sql) => JSON.parse(execFileSync('psql', [db, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c',
    `SET TIME ZONE 'UTC'; SELECT coalesce(json_agg(r), '[]') FROM (${sql}) r`], { encoding: 'utf8' }).trim() || '[]')
  : (sql) => JSON.parse(execFileSync('sqlite3', ['-json', db, sql], { encoding: 'utf8' }) || '[]');
const diffs = [];
const norm = (type, v) => {
  if (v === null || v === undefined || v === '') return null;
  if (type === 'Boolean') return v === true || v === 1 || v === 'true' ? 1 : 0;
  if (type === 'Number') return Number(v);
  if (type === 'DateTime' && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
  return String(v);
};
const tables = q(pg
  ? "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_dd\\_%' AND table_name NOT LIKE 'stepwise\\_%'"
  : "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE '\\_dd\\_%' ESCAPE '\\' AND name != 'stepwise_statements'").map((r) => r.name);
for (const t of tables) if (!model[t]) diffs.push(`unexpected table ${t}`);
for (const [t, m] of Object.entries(model)) {
  if (!tables.includes(t)) { diffs.push(`missing table ${t}`); continue; }
  const cols = q(pg ? `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = '${t}'`
    : `PRAGMA table_info("${t}")`).map((c) => c.name).sort();
  const want = m.columns.map((c) => c[0]).sort();
  if (JSON.stringify(cols) !== JSON.stringify(want)) diffs.push(`${t}: columns ${cols} != ${want}`);
  const types = Object.fromEntries(m.columns);
  const rows = q(`SELECT * FROM "${t}"`);
  const key = (r) => m.key.map((k) => r[k]).join('\u001f');
  const got = Object.fromEntries(rows.map((r) => [key(r), r]));
  if (rows.length !== Object.keys(m.rows).length) diffs.push(`${t}: ${rows.length} rows, expected ${Object.keys(m.rows).length}`);
  for (const [k, r] of Object.entries(m.rows)) {
    const g = got[k];
    if (!g) { diffs.push(`${t}: row ${k} missing`); continue; }
    for (const c of Object.keys(types)) {
      const a = norm(types[c], g[c]), b = norm(types[c], r[c]);
      if (a !== b) diffs.push(`${t}[${k}].${c}: ${JSON.stringify(a)} != expected ${JSON.stringify(b)}`);
    }
  }
}
for (const d of diffs.slice(0, 20)) console.log(d);
process.exit(diffs.length ? 1 : 0);
