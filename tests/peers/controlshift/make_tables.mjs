// Derive tables.json (column names in export order, with the PostgreSQL
// type and nullability of each) from ControlShift's published per-table
// headers and pg_dump schemas (controlshift/slate source/data/, Apache-2.0,
// copies in ../shared/reference/controlshift/). The peer reads tables.json
// so the tests do not need the reference directory.
//   node make_tables.mjs [REFERENCE_DIR] > tables.json
import fs from 'node:fs';
import path from 'node:path';

const ref = process.argv[2] || path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../shared/reference/controlshift');
const out = {};
for (const f of fs.readdirSync(ref).filter((f) => f.endsWith('_headers.csv')).sort()) {
  const table = f.replace(/_headers\.csv$/, '');
  const header = fs.readFileSync(path.join(ref, f), 'utf8').split(/\r?\n/)[0].split(',');
  const types = {};
  const sqlf = path.join(ref, 'schema-2019', `${table}_schema.sql`);
  if (fs.existsSync(sqlf)) {
    const sql = fs.readFileSync(sqlf, 'utf8');
    const m = sql.match(new RegExp(`CREATE TABLE ${table} \\(([\\s\\S]*?)\\n\\);`));
    for (const line of (m ? m[1] : '').split('\n')) {
      const c = line.trim().replace(/,$/, '').match(/^"?([a-z_0-9]+)"? (.*)$/);
      if (!c) continue;
      let t = c[2];
      const nullable = !/NOT NULL|PRIMARY KEY/.test(t);
      const def = (t.match(/DEFAULT (.*)$/) || [])[1] || null;
      t = t.replace(/ DEFAULT .*$/, '').replace(/ NOT NULL/, '').replace(/ PRIMARY KEY/, '');
      if (t === 'SERIAL') t = 'integer';
      if (t === 'BIGSERIAL') t = 'bigint';
      types[c[1]] = { sql_type: t, nullable, default_value: def };
    }
  }
  out[table] = header.map((name) => ({ name, ...(types[name] || { sql_type: 'text', nullable: true, default_value: null }) }));
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
