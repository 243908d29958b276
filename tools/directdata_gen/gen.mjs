#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// Deterministic generator of Veeva Direct Data archives (tar.gz split in
// parts) and of the warehouse state each one must leave behind.
//
//   node tools/directdata_gen/gen.mjs --out DIR [--vault 999999]
//        [--rows N] [--part-size BYTES] [--text-bytes N] [--level 0-9]
//        [--only-full] [--no-model] [--tables N]
//
// Writes into DIR:
//   files/<name>.tar.gz.NNN   the parts (raw byte slices of one tar.gz)
//   listing.json              the Vault listing entries (v25.2 shape, with
//                             md5checksum per part; url filled by the peer)
//   expected/<name>.json      the model: every table's columns, types, key
//                             and rows after that file is applied
//   expected/final.json       the state after the whole sequence
//                             (--no-model: no expected/ files, for
//                             benchmarks with millions of rows)
// The sequence: a Full file, three Incrementals (updates + deletes, a new
// column and a widened one, a dropped column + picklist/document deletes),
// one Incremental with record_count 0, and a Log file. The `metadata` table
// (all text, key extract + column_name) mirrors Metadata/metadata.csv and
// is patched by each Incremental's metadata updates and deletes.
// --tables N adds N small objects (extra_K__c: id, name__v, amount__c; two
// rows each) to the Full, for loaders that must cope with many tables in
// one file. Same arguments, same bytes.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => {
  if (v.startsWith('--')) a.push([v.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : true]);
  return a;
}, []));
const OUT = args.out || 'dd-out';
const VAULT = String(args.vault || '999999');
const ROWS = Number(args.rows || 40);
const PART = Number(args["part-size"] || 1024);
const TEXT = Number(args['text-bytes'] || 0);
const LEVEL = args.level !== undefined ? Number(args.level) : 6;
const EXTRA = Number(args.tables || 0);

// ---- deterministic PRNG (mulberry32) -------------------------------------
let seed = 0x5eed1234;
function rnd() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
function noise(n) {
  let s = '';
  while (s.length < n) s += Math.floor(rnd() * 0xffffffff).toString(36) + ' ';
  return s.slice(0, n);
}

// ---- CSV -------------------------------------------------------------------
function cell(v) {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) || s === '' ? '"' + s.replace(/"/g, '""') + '"' : s;
}
function csv(cols, rows, crlf) {
  const eol = crlf ? '\r\n' : '\n';
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c])).join(','))].join(eol) + eol;
}

// ---- tar (ustar) -------------------------------------------------------------
function tarHeader(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  h.write('14741440000\0', 136); // fixed mtime: deterministic bytes
  h.write('        ', 148); h.write('0', 156);
  h.write('ustar\0', 257); h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}
function tar(files) {
  const bufs = [];
  for (const [name, text] of files) {
    const body = Buffer.from(text, 'utf8');
    bufs.push(tarHeader(name, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  bufs.push(Buffer.alloc(1024));
  return Buffer.concat(bufs);
}

// ---- schema --------------------------------------------------------------------
const MD = ['modified_date', 'extract', 'extract_label', 'column_name', 'column_label', 'type', 'length', 'related_extract'];
const schema = {
  'Object.study__v': [['id', 'String', 20], ['modified_date__v', 'DateTime'], ['name__v', 'String', 128],
    ['status__v', 'Picklist', null, 'Picklist.picklist__sys'], ['enrollment__c', 'Number'], ['start_date__c', 'Date'],
    ['blinded__c', 'Boolean'], ['description__c', 'LongText', 32000]],
  'Object.product__v': [['id', 'String', 20], ['modified_date__v', 'DateTime'], ['name__v', 'String', 128],
    ['price__c', 'Number'], ['notes__c', 'LongText', 32000]],
  'Picklist.picklist__sys': [['modified_date__v', 'DateTime'], ['object', 'String', 255], ['object_field', 'String', 255],
    ['picklist_value_name', 'String', 255], ['picklist_value_label', 'String', 255], ['status__v', 'String', 255]],
  'Document.document_version__sys': [['id', 'String', 255], ['modified_date__v', 'DateTime'], ['doc_id', 'Number'],
    ['major_version_number', 'Number'], ['minor_version_number', 'Number'], ['title__v', 'String', 1500]],
};
for (let k = 1; k <= EXTRA; k++)
  schema[`Object.extra_${k}__c`] = [['id', 'String', 20], ['name__v', 'String', 128], ['amount__c', 'Number']];
const LOG_EXTRACT = 'LogData.object_audit__sys';
const logSchema = [['id', 'String', 40], ['timestamp', 'DateTime'], ['user_name', 'String', 255],
  ['action', 'String', 255], ['record_id', 'String', 40]];
const label = (e) => e.split('.')[1];
const tableOf = (e) => e.split('.')[1].toLowerCase();
const keyOf = (e) => (e === 'Picklist.picklist__sys' ? ['object', 'object_field', 'picklist_value_name']
  : e === 'Metadata.metadata' ? ['extract', 'column_name'] : ['id']);
const mdRow = (e, c, mod) => ({ modified_date: mod || null, extract: e, extract_label: label(e), column_name: c[0],
  column_label: c[0], type: c[1], length: c[2] ?? null, related_extract: c[3] ?? null });

// ---- model -----------------------------------------------------------------------
const model = {}; // table -> {extract, columns: [[name, type]], key, rows: {k: row}}
const clone = (o) => JSON.parse(JSON.stringify(o));
function ensureTable(e, cols) {
  const t = tableOf(e);
  if (!model[t]) model[t] = { extract: e, columns: [], key: keyOf(e), rows: {} };
  for (const c of cols) if (!model[t].columns.find((x) => x[0] === c[0])) model[t].columns.push([c[0], c[1]]);
}
const kstr = (t, r) => model[t].key.map((k) => r[k]).join('\u001f');
function upsert(e, row) {
  const t = tableOf(e);
  const full = {};
  for (const [c] of model[t].columns) full[c] = row[c] ?? null;
  model[t].rows[kstr(t, row)] = full;
}

// ---- data ----------------------------------------------------------------------------
const ts = (d, h, m, s) => `2025-01-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.000Z`;
const sid = (i) => 'V17' + String(i).padStart(12, '0');
const pid = (i) => 'V18' + String(i).padStart(12, '0');
function study(i, rev) {
  const kind = i % 7;
  let desc = kind === 0 ? 'Line one\nline "two", quoted\nline three' : kind === 1 ? 'Plain text' :
    kind === 2 ? '' : kind === 3 ? null : 'Über ünïcode, with comma';
  if (TEXT && desc !== null) desc += ' ' + noise(TEXT);
  return { id: sid(i), modified_date__v: ts(1, 0, rev, i % 60), name__v: `Study ${i}` + (rev ? ` rev ${rev}` : ''),
    status__v: pick(['active__v', 'inactive__v']), enrollment__c: i % 5 === 0 ? null : i % 3 ? String(i * 10) : `${i}.5`,
    start_date__c: i % 4 ? `2024-0${1 + (i % 9)}-1${i % 10}` : null, blinded__c: i % 6 === 0 ? null : i % 2 ? 'true' : 'false',
    description__c: desc };
}
function product(i, rev) {
  return { id: pid(i), modified_date__v: ts(1, 0, rev, i % 60), name__v: `Product "${i}"`,
    price__c: (i * 3.25).toFixed(2), notes__c: i % 3 ? `Note for ${i}\r\nsecond line` : null };
}
const picklist = [['study__v', 'status__v', 'active__v', 'Active'], ['study__v', 'status__v', 'inactive__v', 'Inactive'],
  ['study__v', 'phase__c', 'phase_1__c', 'Phase 1'], ['study__v', 'phase__c', 'phase_2__c', 'Phase 2, late']]
  .map(([o, f, n, l]) => ({ modified_date__v: ts(1, 0, 0, 0), object: o, object_field: f, picklist_value_name: n,
    picklist_value_label: l, status__v: 'active__v' }));
function doc(i) {
  return { id: `${i}_0_1`, modified_date__v: ts(1, 0, 0, i % 60), doc_id: String(i), major_version_number: '0',
    minor_version_number: '1', title__v: `Doc ${i}, "draft"` };
}

// ---- files ---------------------------------------------------------------------------------
const listing = [];
mkdirSync(`${OUT}/files`, { recursive: true });
mkdirSync(`${OUT}/expected`, { recursive: true });

function publish(name, type, start, stop, members, recordCount) {
  const gz = gzipSync(tar(members), { level: LEVEL });
  const parts = [];
  const n = Math.max(1, Math.ceil(gz.length / PART));
  for (let p = 0; p < n; p++) {
    const slice = gz.subarray(p * PART, Math.min(gz.length, (p + 1) * PART));
    const num = String(p + 1).padStart(3, '0');
    writeFileSync(`${OUT}/files/${name}.tar.gz.${num}`, slice);
    parts.push({ name: `${name}.${num}`, filename: `${name}.tar.gz.${num}`, filepart: p + 1, size: slice.length,
      md5checksum: createHash('md5').update(slice).digest('hex') });
  }
  listing.push({ name, filename: `${name}.tar.gz`, extract_type: type, start_time: start, stop_time: stop,
    record_count: recordCount, size: gz.length, fileparts: n, filepart_details: parts });
  if (!args['no-model']) writeFileSync(`${OUT}/expected/${name}.json`, JSON.stringify(model, null, 1));
}
const MAN = ['extract', 'extract_label', 'type', 'records', 'file'];
const man = (e, type, rows, file) => ({ extract: e, extract_label: label(e), type, records: rows, file: rows ? file : null });
const fullMd = () => Object.entries(schema).flatMap(([e, cols]) => cols.map((c) => mdRow(e, c)));

// 1. Full
const studies = Array.from({ length: ROWS }, (_, i) => study(i + 1, 0));
const products = Array.from({ length: Math.ceil(ROWS / 2) }, (_, i) => product(i + 1, 0));
const docs = Array.from({ length: 5 }, (_, i) => doc(i + 101));
for (const [e, cols] of Object.entries(schema)) ensureTable(e, cols);
ensureTable('Metadata.metadata', MD.map((c) => [c, 'String']));
fullMd().forEach((r) => upsert('Metadata.metadata', r));
studies.forEach((r) => upsert('Object.study__v', r));
products.forEach((r) => upsert('Object.product__v', r));
picklist.forEach((r) => upsert('Picklist.picklist__sys', r));
docs.forEach((r) => upsert('Document.document_version__sys', r));
const cols = (e) => schema[e].map((c) => c[0]);
const extras = Object.keys(schema).filter((e) => e.startsWith('Object.extra_')).map((e, k) =>
  [e, [1, 2].map((i) => ({ id: `VX${k + 1}_${i}`, name__v: `Extra ${k + 1}, row ${i}`, amount__c: `${k}.${i}5` }))]);
for (const [e, rows] of extras) rows.forEach((r) => upsert(e, r));
{
  const md = fullMd();
  publish(`${VAULT}-20250101-0000-F`, 'full_directdata', '2000-01-01T00:00Z', '2025-01-01T00:00Z', [
    ['manifest.csv', csv(MAN, [man('Metadata.metadata', 'updates', md.length, 'Metadata/metadata.csv'),
      man('Object.study__v', 'updates', studies.length, 'Object/study__v.csv'),
      man('Object.product__v', 'updates', products.length, 'Object/product__v.csv'),
      man('Object.organization__v', 'updates', 0, ''),
      man('Picklist.picklist__sys', 'updates', picklist.length, 'Picklist/picklist__sys.csv'),
      man('Document.document_version__sys', 'updates', docs.length, 'Document/document_version__sys.csv'),
      ...extras.map(([e, rows]) => man(e, 'updates', rows.length, `Object/${tableOf(e)}.csv`))])],
    ['Metadata/metadata.csv', csv(MD, md)],
    ['Object/study__v.csv', csv(cols('Object.study__v'), studies)],
    ['Object/product__v.csv', csv(cols('Object.product__v'), products, true)],
    ['Picklist/picklist__sys.csv', csv(cols('Picklist.picklist__sys'), picklist)],
    ['Document/document_version__sys.csv', csv(cols('Document.document_version__sys'), docs)],
    ...extras.map(([e, rows]) => [`Object/${tableOf(e)}.csv`, csv(cols(e), rows)]),
  ], studies.length + products.length + picklist.length + docs.length + extras.length * 2);
}
if (!args['only-full']) {
  // 2. Incremental: updates (columns reordered), new rows, deletes
  {
    const upd = [study(2, 15), study(3, 15), study(ROWS + 1, 15)];
    const del = [{ id: sid(5), deleted_date: ts(1, 0, 12, 0) }];
    upd.forEach((r) => upsert('Object.study__v', r));
    del.forEach((r) => delete model.study__v.rows[r.id]);
    const pu = [product(1, 15)];
    pu.forEach((r) => upsert('Object.product__v', r));
    const order = [...cols('Object.study__v')].reverse();
    publish(`${VAULT}-20250101-0015-N`, 'incremental_directdata', '2025-01-01T00:00Z', '2025-01-01T00:15Z', [
      ['manifest.csv', csv(MAN, [man('Object.study__v', 'updates', upd.length, 'Object/study__v.csv'),
        man('Object.study__v', 'deletes', del.length, 'Object/study__v_deletes.csv'),
        man('Object.product__v', 'updates', pu.length, 'Object/product__v.csv')])],
      ['metadata_full.csv', csv(MD, fullMd())],
      ['Object/study__v.csv', csv(order, upd, true)],
      ['Object/study__v_deletes.csv', csv(['id', 'deleted_date'], del)],
      ['Object/product__v.csv', csv(cols('Object.product__v'), pu)],
    ], upd.length + del.length + pu.length);
  }
  // 3. Incremental: a new column phase__c on study__v; name__v widened
  //    from 128 to 1500 characters (and a name that needs it)
  {
    const col = ['phase__c', 'Picklist', null, 'Picklist.picklist__sys'];
    schema['Object.study__v'].push(col);
    ensureTable('Object.study__v', [col]);
    const wide = schema['Object.study__v'].find((c) => c[0] === 'name__v');
    wide[2] = 1500;
    for (const r of Object.values(model.study__v.rows)) if (!('phase__c' in r)) r.phase__c = null;
    const upd = [{ ...study(4, 30), phase__c: 'phase_2__c' },
      { ...study(ROWS + 2, 30), phase__c: 'phase_1__c', name__v: 'Long name, "widened" ' + 'é'.repeat(600) }];
    upd.forEach((r) => upsert('Object.study__v', r));
    const md = [mdRow('Object.study__v', col, ts(1, 0, 20, 0)), mdRow('Object.study__v', wide, ts(1, 0, 21, 0))];
    md.forEach((r) => upsert('Metadata.metadata', r));
    publish(`${VAULT}-20250101-0030-N`, 'incremental_directdata', '2025-01-01T00:15Z', '2025-01-01T00:30Z', [
      ['manifest.csv', csv(MAN, [man('Metadata.metadata', 'updates', md.length, 'Metadata/metadata.csv'),
        man('Object.study__v', 'updates', upd.length, 'Object/study__v.csv')])],
      ['metadata_full.csv', csv(MD, fullMd())],
      ['Metadata/metadata.csv', csv(MD, md)],
      ['Object/study__v.csv', csv(cols('Object.study__v'), upd)],
    ], md.length + upd.length);
  }
  // 4. Incremental: drop enrollment__c; picklist and document deletes
  {
    const gone = schema['Object.study__v'].find((c) => c[0] === 'enrollment__c');
    schema['Object.study__v'] = schema['Object.study__v'].filter((c) => c !== gone);
    delete model.metadata.rows[['Object.study__v', 'enrollment__c'].join('\u001f')];
    model.study__v.columns = model.study__v.columns.filter((c) => c[0] !== 'enrollment__c');
    for (const r of Object.values(model.study__v.rows)) delete r.enrollment__c;
    const pdel = [{ object: 'study__v', object_field: 'phase__c', picklist_value_name: 'phase_1__c', deleted_date: ts(1, 0, 40, 0) }];
    for (const r of pdel) delete model.picklist__sys.rows[[r.object, r.object_field, r.picklist_value_name].join('\u001f')];
    const ddel = [{ id: '102_0_1', deleted_date: ts(1, 0, 41, 0) }];
    ddel.forEach((r) => delete model.document_version__sys.rows[r.id]);
    const upd = [{ ...study(6, 45), phase__c: 'phase_1__c' }];
    delete upd[0].enrollment__c;
    upd.forEach((r) => upsert('Object.study__v', r));
    publish(`${VAULT}-20250101-0045-N`, 'incremental_directdata', '2025-01-01T00:30Z', '2025-01-01T00:45Z', [
      ['manifest.csv', csv(MAN, [man('Metadata.metadata', 'deletes', 1, 'Metadata/metadata_deletes.csv'),
        man('Object.study__v', 'updates', upd.length, 'Object/study__v.csv'),
        man('Picklist.picklist__sys', 'deletes', pdel.length, 'Picklist/picklist__sys_deletes.csv'),
        man('Document.document_version__sys', 'deletes', ddel.length, 'Document/document_version__sys_deletes.csv')])],
      ['metadata_full.csv', csv(MD, fullMd())],
      ['Metadata/metadata_deletes.csv', csv(MD, [mdRow('Object.study__v', gone, ts(1, 0, 35, 0))])],
      ['Object/study__v.csv', csv(cols('Object.study__v'), upd, true)],
      ['Picklist/picklist__sys_deletes.csv', csv(['object', 'object_field', 'picklist_value_name', 'deleted_date'], pdel)],
      ['Document/document_version__sys_deletes.csv', csv(['id', 'deleted_date'], ddel)],
    ], 1 + upd.length + pdel.length + ddel.length);
  }
  // 5. Incremental with record_count 0 (published, nothing changed)
  publish(`${VAULT}-20250101-0100-N`, 'incremental_directdata', '2025-01-01T00:45Z', '2025-01-01T01:00Z', [
    ['manifest.csv', csv(MAN, [man('Object.study__v', 'updates', 0, '')])],
    ['metadata_full.csv', csv(MD, fullMd())],
  ], 0);
  // 6. Log: append, duplicates (same id twice) dropped
  {
    ensureTable(LOG_EXTRACT, logSchema);
    const rows = Array.from({ length: 6 }, (_, i) => ({ id: `A${1000 + i}`, timestamp: ts(1, 0, i, 0),
      user_name: i % 2 ? 'alice@example.com' : 'bob, "the builder"', action: pick(['Create', 'Edit', 'Delete']),
      record_id: sid(i + 1) }));
    rows.push({ ...rows[1] }); // a duplicate line
    rows.forEach((r) => upsert(LOG_EXTRACT, r));
    publish(`${VAULT}-20250101-0000-L`, 'log_directdata', '2024-12-31T00:00Z', '2025-01-01T00:00Z', [
      ['manifest.csv', csv(MAN, [man(LOG_EXTRACT, 'updates', rows.length, 'LogData/object_audit__sys.csv')])],
      ['metadata_full.csv', csv(MD, [...fullMd(), ...logSchema.map((c) => mdRow(LOG_EXTRACT, c))])],
      ['LogData/object_audit__sys.csv', csv(logSchema.map((c) => c[0]), rows, true)],
    ], rows.length);
  }
}
if (!args['no-model']) writeFileSync(`${OUT}/expected/final.json`, JSON.stringify(model, null, 1));
writeFileSync(`${OUT}/listing.json`, JSON.stringify(listing, null, 1));
console.log(JSON.stringify({ out: OUT, files: listing.length,
  bytes: listing.reduce((a, f) => a + f.size, 0), parts: listing.reduce((a, f) => a + f.fileparts, 0) }));
