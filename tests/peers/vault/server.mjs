// SPDX-License-Identifier: MIT
// A Veeva Vault Direct Data peer for stepwise's tests: an HTTP server on
// 127.0.0.1 serving the archives written by tools/directdata_gen.
//
//   node tests/peers/vault/server.mjs --dir GEN_OUT [--port N]
//        [--vault-id 999999] [--user U] [--password P]
//
// Prints "listening http://127.0.0.1:PORT" as its first stdout line.
// API (shapes of shared/reference/notes/directdata.md):
//   POST /api/{v}/auth   form-encoded username, password -> sessionId,
//                        vaultId, vaultIds (FAILURE on bad credentials)
//   GET  /api/{v}/services/directdata/files?extract_type&start_time&stop_time
//   GET  /api/{v}/services/directdata/files/{part name}  (octet-stream)
// Errors are HTTP 200 with responseStatus FAILURE and errors[{type,message}].
// Every response carries X-VaultAPI-BurstLimit / BurstLimitRemaining.
//
// Faults (peer only), POST /__peer/fault with JSON
//   {"kind": "expire"}              the current session becomes invalid
//                                   (next call: INVALID_SESSION_ID)
//   {"kind": "expire_after", "requests": N}  the sessions live N more
//                                   authenticated requests, then expire
//                                   (a re-login mid-run); once
//   {"kind": "burst", "count": N, "delay_ms": D}   N responses delayed D ms
//                                   with X-VaultAPI-ResponseDelay and
//                                   BurstLimitRemaining 0
//   {"kind": "failure", "count": N} N calls answer FAILURE/HTTP 200
//   {"kind": "md5", "part": NAME, "count": N}      part body corrupted
//   {"kind": "truncate", "part": NAME, "count": N} part body cut in half
//   {"kind": "slow", "part": NAME, "delay_ms": D, "count": N}
// GET /__peer/stats -> {auth: n, list: n, downloads: {part: n}, expired: n}
// POST /__peer/reset clears faults and counters.
import fs from 'node:fs';
import http from 'node:http';
import { randomBytes } from 'node:crypto';

const argv = process.argv.slice(2);
const opt = { port: 0, dir: null, vaultId: 999999, user: 'integration@example.com', password: 'p&ss+word=1' };
for (let i = 0; i < argv.length; i++) {
  const k = argv[i], v = argv[i + 1];
  if (k === '--port') { opt.port = Number(v); i++; } else if (k === '--dir') { opt.dir = v; i++; }
  else if (k === '--vault-id') { opt.vaultId = Number(v); i++; } else if (k === '--user') { opt.user = v; i++; }
  else if (k === '--password') { opt.password = v; i++; }
}
if (!opt.dir) { console.error('usage: server.mjs --dir GEN_OUT'); process.exit(2); }

let sessions = new Set();
let faults = [];
let stats = { auth: 0, list: 0, downloads: {} };
const listing = () => JSON.parse(fs.readFileSync(`${opt.dir}/listing.json`, 'utf8'));

function takeFault(kind, part) {
  const f = faults.find((x) => x.kind === kind && (!x.part || x.part === part) && (x.count ?? 1) > 0);
  if (!f) return null;
  f.count = (f.count ?? 1) - 1;
  return f;
}
function send(res, status, headers, body) {
  const extra = { 'X-VaultAPI-BurstLimit': '2000', 'X-VaultAPI-BurstLimitRemaining': '1999', ...headers };
  const burst = takeFault('burst');
  const go = () => { res.writeHead(status, extra); res.end(body); };
  if (burst) {
    extra['x-vaultapi-responsedelay'] = String(burst.delay_ms ?? 200);
    extra['X-VaultAPI-BurstLimitRemaining'] = '0';
    setTimeout(go, burst.delay_ms ?? 200);
  } else go();
}
const json = (res, obj) => send(res, 200, { 'Content-Type': 'application/json;charset=UTF-8' }, JSON.stringify(obj));
const failure = (res, type, message) => json(res, { responseStatus: 'FAILURE', errors: [{ type, message }] });
const tmin = (s) => (s ? new Date(s.replace(/Z$/, s.length <= 17 ? ':00Z' : 'Z')).getTime() : null);

function authed(req, res) {
  const s = req.headers.authorization?.replace(/^Bearer /, '');
  if (!s || !sessions.has(s)) { failure(res, 'INVALID_SESSION_ID', 'Invalid or expired session ID.'); return false; }
  const ex = faults.find((x) => x.kind === 'expire_after');
  if (ex && (ex.requests ?? 0) <= 0) {
    faults = faults.filter((x) => x !== ex);
    sessions = new Set();
    stats.expired = (stats.expired || 0) + 1;
    failure(res, 'INVALID_SESSION_ID', 'Invalid or expired session ID.');
    return false;
  }
  if (ex) ex.requests--;
  if (takeFault('failure')) { failure(res, 'UNEXPECTED_ERROR', 'Injected failure: try again later.'); return false; }
  return true;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    const body = Buffer.concat(chunks).toString('utf8');
    if (p === '/__peer/fault' && req.method === 'POST') {
      const f = JSON.parse(body);
      if (f.kind === 'expire') sessions = new Set(); else faults.push(f);
      return json(res, { ok: true });
    }
    if (p === '/__peer/reset') { faults = []; stats = { auth: 0, list: 0, downloads: {} }; return json(res, { ok: true }); }
    if (p === '/__peer/stats') return json(res, stats);
    let m = p.match(/^\/api\/(v\d+\.\d+)\/auth$/);
    if (m && req.method === 'POST') {
      stats.auth++;
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] || ''))
        return failure(res, 'INVALID_DATA', 'Content-Type must be application/x-www-form-urlencoded');
      const form = new URLSearchParams(body);
      if (form.get('username') !== opt.user || form.get('password') !== opt.password)
        return failure(res, 'USERNAME_OR_PASSWORD_INCORRECT', 'Authentication failed for user: ' + form.get('username'));
      const sid = randomBytes(16).toString('hex').toUpperCase();
      sessions.add(sid);
      return json(res, { responseStatus: 'SUCCESS', sessionId: sid, userId: 12345,
        vaultIds: [{ id: opt.vaultId, name: 'Example', url: `http://127.0.0.1:${server.address().port}/api` }],
        vaultId: opt.vaultId });
    }
    m = p.match(/^\/api\/(v\d+\.\d+)\/services\/directdata\/files$/);
    if (m && req.method === 'GET') {
      if (!authed(req, res)) return;
      stats.list++;
      const et = url.searchParams.get('extract_type');
      if (et && !['full_directdata', 'incremental_directdata', 'log_directdata'].includes(et))
        return failure(res, 'INVALID_DATA', `Invalid value [${et}] for parameter [extract_type]`);
      const start = tmin(url.searchParams.get('start_time')), stop = tmin(url.searchParams.get('stop_time'));
      const base = `http://127.0.0.1:${server.address().port}/api/${m[1]}/services/directdata/files/`;
      const data = listing().filter((f) => (!et || f.extract_type === et) &&
        (start === null || tmin(f.start_time) >= start) && (stop === null || tmin(f.stop_time) <= stop))
        .map((f) => ({ ...f, filepart_details: f.filepart_details.map((d) => ({ ...d, url: base + d.name })) }));
      return json(res, { responseStatus: 'SUCCESS', responseDetails: { total: data.length }, data });
    }
    m = p.match(/^\/api\/(v\d+\.\d+)\/services\/directdata\/files\/([A-Za-z0-9._-]+)$/);
    if (m && req.method === 'GET') {
      if (!authed(req, res)) return;
      const part = m[2];
      const f = listing().flatMap((x) => x.filepart_details).find((d) => d.name === part);
      if (!f) return failure(res, 'INVALID_DATA', `No Direct Data file part named [${part}]`);
      stats.downloads[part] = (stats.downloads[part] || 0) + 1;
      let data = fs.readFileSync(`${opt.dir}/files/${f.filename}`);
      if (takeFault('md5', part)) { data = Buffer.from(data); data[data.length >> 1] ^= 0xff; }
      const trunc = takeFault('truncate', part);
      const slow = takeFault('slow', part);
      const headers = { 'Content-Type': 'application/octet-stream;charset=UTF-8',
        'Content-Disposition': `attachment; filename="${f.filename}"` };
      if (trunc) {
        // Announce the whole length, send half, then drop the connection.
        res.writeHead(200, { ...headers, 'Content-Length': String(data.length) });
        res.write(data.subarray(0, data.length >> 1));
        return setTimeout(() => res.socket.destroy(), 20);
      }
      if (slow) return setTimeout(() => send(res, 200, headers, data), slow.delay_ms ?? 1000);
      return send(res, 200, headers, data);
    }
    failure(res, 'MALFORMED_URL', `Unknown resource [${req.method} ${p}]`);
  });
});
server.listen(opt.port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
