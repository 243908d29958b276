// ControlShift peer for the tests, on 127.0.0.1 (a free port, printed as
// "listening http://127.0.0.1:PORT" and written to --port-file):
//   GET  /api/bulk_data/schema.json         bulk-data schema (§3.2 shape)
//   GET  /api/bulk_data/schema/columns?table=T   the CSV header line
//   GET  /exports/<kind>/<table>/<seq>/<table>_<seq>.csv[.bz2|.gz]
//          ?rows=N&Expires=<epoch>&Signature=<hex>   presigned-style
//        download: 403 (S3's XML error) when the signature is wrong or the
//        URL has expired; the export is built by gen.mjs and compressed
//        with bzip2 (default), gzip or not at all, cached in --dir.
//   GET  /__peer/url?table=T&kind=full|incremental&seq=S[&rows=N]
//        [&compress=bz2|gz|none][&ttl=SECONDS]   -> {"url": "..."}; a
//        negative ttl gives an already expired URL
//   POST /__peer/fault {"kind": "5xx"|"reset", "count": N}  the next N
//        downloads answer 503 / drop the connection
//   POST /__peer/add_column {"table", "column", "sql_type"}  the schema and
//        every later export carry the new column (text values)
//   GET  /__peer/stats -> {"downloads": {path: n}, "schema": n}
// Usage: node server.mjs --dir DIR [--port-file FILE] [--port N]
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { spawn } from 'node:child_process';
import { TABLES, EXTRA, columns, exportCsv } from './gen.mjs';

const a = process.argv.slice(2);
const arg = (k, d) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : d; };
const dir = path.resolve(arg('--dir', '.'));
const portFile = arg('--port-file', null);
fs.mkdirSync(dir, { recursive: true });
const KEY = 'peer-signing-key'; // signs the download URLs (a stand-in for S3's)
const stats = { downloads: {}, schema: 0 };
const faults = [];
let base = '';

const railsType = (t) => t.startsWith('character varying') ? 'string'
  : t.startsWith('timestamp') ? 'datetime' : t.startsWith('numeric') ? 'decimal'
  : t === 'double precision' ? 'float' : t === 'bigint' ? 'integer' : t;

function schemaDoc() {
  const tables = Object.keys(TABLES).sort().map((name) => {
    const cols = {};
    for (const c of columns(name)) {
      const lim = (c.sql_type.match(/\((\d+)\)/) || [])[1];
      cols[c.name] = { type: railsType(c.sql_type), sql_type: c.sql_type, limit: lim ? Number(lim) : null,
        nullable: c.nullable !== false, default_value: c.default_value ?? null };
    }
    return { table: { name, columns: cols } };
  });
  return { tables, settings: { compression_format: 'BZIP2' } };
}

const sign = (p, expires) => crypto.createHmac('sha256', KEY).update(`${p}\n${expires}`).digest('hex');

function presign(q) {
  const table = q.get('table'), kind = q.get('kind') || 'full', seq = Number(q.get('seq') || 1);
  const rows = q.get('rows'), comp = q.get('compress') || 'bz2', ttl = Number(q.get('ttl') || 3600);
  if (!TABLES[table]) return null;
  const ext = comp === 'none' ? '' : comp === 'gz' ? '.gz' : '.bz2';
  const p = `/exports/${kind}/${table}/${seq}/${table}_${seq}.csv${ext}`;
  const expires = Math.floor(Date.now() / 1000) + ttl;
  const rq = rows ? `rows=${rows}&` : '';
  return `${base}${p}?${rq}AWSAccessKeyId=PEER&Expires=${expires}&Signature=${sign(p + '?' + rq, expires)}`;
}

function s3Error(res, code, msg) {
  res.writeHead(403, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${msg}</Message></Error>`);
}

// Build (once) the export file; resolves to its path.
const building = new Map();
function build(kind, table, seq, rows, comp) {
  const extra = (EXTRA[table] || []).map((c) => c.name).join('+');
  const f = path.join(dir, `${kind}-${table}-${seq}-${rows || 0}-${extra}.csv${comp}`);
  if (fs.existsSync(f)) return Promise.resolve(f);
  if (building.has(f)) return building.get(f);
  const p = new Promise((resolve, reject) => {
    const tmp = f + '.tmp';
    const out = fs.createWriteStream(tmp);
    let sink = out, child = null;
    if (comp === '.bz2') {
      child = spawn('bzip2', ['-c'], { stdio: ['pipe', 'pipe', 'inherit'] });
      child.stdout.pipe(out);
      sink = child.stdin;
    } else if (comp === '.gz') {
      const z = zlib.createGzip();
      z.pipe(out);
      sink = z;
    }
    out.on('finish', () => { fs.renameSync(tmp, f); resolve(f); });
    out.on('error', reject);
    const it = exportCsv(table, kind, seq, rows ? Number(rows) : undefined);
    const pump = () => {
      for (;;) {
        const n = it.next();
        if (n.done) { sink.end(); return; }
        if (!sink.write(n.value)) { sink.once('drain', pump); return; }
      }
    };
    pump();
  });
  building.set(f, p);
  p.finally(() => building.delete(f));
  return p;
}

async function download(req, res, u) {
  const m = u.pathname.match(/^\/exports\/(full|incremental)\/([a-z_]+)\/(\d+)\/[a-z_]+_\d+\.csv(\.bz2|\.gz)?$/);
  if (!m || !TABLES[m[2]]) { res.writeHead(404); res.end('no such export'); return; }
  const expires = Number(u.searchParams.get('Expires'));
  const rows = u.searchParams.get('rows');
  const rq = rows ? `rows=${rows}&` : '';
  const sig = u.searchParams.get('Signature') || '';
  const want = sign(u.pathname + '?' + rq, expires);
  if (sig.length !== want.length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(want))) {
    s3Error(res, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    return;
  }
  if (!(expires > Date.now() / 1000)) { s3Error(res, 'AccessDenied', 'Request has expired'); return; }
  stats.downloads[u.pathname] = (stats.downloads[u.pathname] || 0) + 1;
  const f = faults[0];
  if (f && f.count > 0) {
    if (--f.count === 0) faults.shift();
    if (f.kind === 'reset') { req.socket.destroy(); return; }
    res.writeHead(503, { 'content-type': 'application/xml' });
    res.end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    return;
  }
  const file = await build(m[1], m[2], Number(m[3]), rows, m[4] || '');
  const st = fs.statSync(file);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': st.size });
  fs.createReadStream(file).pipe(res);
}

function body(req) {
  return new Promise((resolve) => { let s = ''; req.on('data', (d) => { s += d; }); req.on('end', () => resolve(s)); });
}

const server = http.createServer(async (req, res) => {
  const u = new URL(req.url, base);
  try {
    if (req.method === 'GET' && u.pathname === '/api/bulk_data/schema.json') {
      stats.schema++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(schemaDoc()));
    } else if (req.method === 'GET' && u.pathname === '/api/bulk_data/schema/columns') {
      const t = u.searchParams.get('table');
      if (!TABLES[t]) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.end(columns(t).map((c) => c.name).join(',') + '\n');
    } else if (req.method === 'GET' && u.pathname.startsWith('/exports/')) {
      await download(req, res, u);
    } else if (req.method === 'GET' && u.pathname === '/__peer/url') {
      const url = presign(u.searchParams);
      res.writeHead(url ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(url ? { url } : { error: 'unknown table' }));
    } else if (req.method === 'POST' && u.pathname === '/__peer/fault') {
      const f = JSON.parse(await body(req));
      faults.push({ kind: f.kind, count: f.count || 1 });
      res.writeHead(204); res.end();
    } else if (req.method === 'POST' && u.pathname === '/__peer/add_column') {
      const c = JSON.parse(await body(req));
      (EXTRA[c.table] ||= []).push({ name: c.column, sql_type: c.sql_type || 'text', nullable: true, default_value: null });
      res.writeHead(204); res.end();
    } else if (req.method === 'GET' && u.pathname === '/__peer/stats') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(stats));
    } else {
      res.writeHead(404); res.end('not found');
    }
  } catch (e) {
    res.writeHead(500); res.end(String(e));
  }
});
server.listen(Number(arg('--port', 0)), '127.0.0.1', () => {
  const port = server.address().port;
  base = `http://127.0.0.1:${port}`;
  if (portFile) fs.writeFileSync(portFile, `${port}\n`);
  console.log(`listening ${base}`);
});
