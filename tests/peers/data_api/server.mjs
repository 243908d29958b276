// SPDX-License-Identifier: MIT
// A Redshift Data API peer for stepwise's tests: an HTTP server on
// 127.0.0.1 that checks every request the way AWS would and runs the SQL
// on PostgreSQL.
//
//   node tests/peers/data_api/server.mjs [--port N] [--pg DSN] [--step-ms N]
//        [--page-rows N] [--log FILE] [--region R]
//
// Prints "listening http://127.0.0.1:PORT" as its first stdout line.
// Environment: SW_TEST_PG_DSN (PostgreSQL, when --pg is not given);
// DATAAPI_ACCESS_KEY_ID / DATAAPI_SECRET_ACCESS_KEY (the test credentials,
// default AKIDSTEPWISETEST / stepwise-test-secret); DATAAPI_SESSION_AKID,
// DATAAPI_SESSION_SECRET, DATAAPI_SESSION_TOKEN (temporary credentials that
// must come with X-Amz-Security-Token).
//
// Checks, in AWS's order: SigV4 (recomputed with @smithy/signature-v4 from
// the signed headers and the body; 403 UnrecognizedClientException /
// InvalidSignatureException), X-Amz-Target and Content-Type, the body
// against botocore's service-2.json (required members, types, enums,
// lengths, ranges, patterns, unknown members: 400 ValidationException),
// then the operation's own rules (cluster or workgroup, parameters used).
//
// Statements: an Id per submit; a repeated ClientToken answers with the
// first statement's Id and runs nothing. Status goes SUBMITTED -> PICKED ->
// STARTED -> FINISHED (FAILED with PostgreSQL's message, ABORTED after
// CancelStatement), one --step-ms apart; a batch runs in one transaction.
// :name parameters become $n (one number per occurrence).
//
// COPY table [(cols)] FROM 's3://bucket/prefix' IAM_ROLE '...' [FORMAT [AS]
// CSV] [IGNOREHEADER [AS] n] [EMPTYASNULL] runs as Redshift would: every
// object under the prefix is read from S3 (AWS_ENDPOINT_URL_S3, path
// style, signed with the peer's own test key) and loaded with PostgreSQL's
// COPY ... FROM STDIN (FORMAT csv); no object under the prefix fails the
// statement with Redshift's "The specified S3 prefix '...' does not
// exist"; any other option is refused.
//
// Control (peer only, unsigned), under /__peer/:
//   POST /__peer/fault  {"kind": "throttle"|"500"|"reset"|"slow"|"delay",
//                        "count": N, "action": "DescribeStatement"?,
//                        "skip": N (let the first N matching pass),
//                        "after": bool (run the request, then fail the
//                        response; slow and delay always do),
//                        "slow_ms": N (slow: per byte), "delay_ms": N}
//   POST /__peer/config {"step_ms": N, "page_rows": N}
//   GET  /__peer/statements   every statement with its run count
//   GET  /__peer/stats        request count and rate, and the lateness of
//                             each DescribeStatement after the 1 s Wait
//                             that should precede it (ms past 1000 since
//                             the previous answer for that Id; p50/p99/max)
// Redshift's dialect (see redshiftDialect): ON CONFLICT, casts to BOOLEAN
// and ALTER COLUMN TYPE in a batch are refused; in DDL, TEXT becomes
// VARCHAR(256), a bare NUMERIC NUMERIC(18,0), and keys are not enforced.
// The --log file gets one JSON line per submit, dedupe and run outcome.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { checkSigV4, makeValidator } from '../lib/aws_checks.mjs';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- options --------------------------------------------------------------
const opt = { port: 0, pg: process.env.SW_TEST_PG_DSN, stepMs: 10,
              pageRows: 1000, log: null, region: 'us-east-1',
              model: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--port') { opt.port = Number(v); i++; }
  else if (a === '--pg') { opt.pg = v; i++; }
  else if (a === '--step-ms') { opt.stepMs = Number(v); i++; }
  else if (a === '--page-rows') { opt.pageRows = Number(v); i++; }
  else if (a === '--log') { opt.log = v; i++; }
  else if (a === '--region') { opt.region = v; i++; }
  else if (a === '--model') { opt.model = v; i++; }
  else { console.error(`data_api peer: unknown argument ${a}`); process.exit(2); }
}
if (!opt.pg) { console.error('data_api peer: no PostgreSQL (SW_TEST_PG_DSN or --pg)'); process.exit(2); }

const modelPath = opt.model || process.env.SW_DATAAPI_MODEL ||
  path.resolve(here, '../../../../shared/reference/botocore/redshift-data/service-2.json');
const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
const shapes = model.shapes;

const keys = new Map();
keys.set(process.env.DATAAPI_ACCESS_KEY_ID || 'AKIDSTEPWISETEST',
         { secret: process.env.DATAAPI_SECRET_ACCESS_KEY || 'stepwise-test-secret' });
if (process.env.DATAAPI_SESSION_AKID)
  keys.set(process.env.DATAAPI_SESSION_AKID,
           { secret: process.env.DATAAPI_SESSION_SECRET || '',
             token: process.env.DATAAPI_SESSION_TOKEN || '' });

// Dates and timestamps as PostgreSQL prints them (stringValue), not JS Dates.
for (const oid of [1082, 1114, 1184, 1083, 1266])
  pg.types.setTypeParser(oid, (v) => v);
const pool = new pg.Pool({ connectionString: opt.pg, max: 16 });
pool.on('error', () => {});

const logStream = opt.log ? fs.createWriteStream(opt.log, { flags: 'a' }) : null;
function log(ev) { if (logStream) logStream.write(JSON.stringify(ev) + '\n'); }

// ---- errors ----------------------------------------------------------------
class ApiError extends Error {
  constructor(status, type, message) { super(message); this.status = status; this.type = type; }
}
const validation = (m) => new ApiError(400, 'ValidationException', m);

// ---- model validation --------------------------------------------------------
const validateInput = makeValidator(model, validation);
const checkSignature = (req, raw) =>
  checkSigV4(req, raw, { keys, region: opt.region, service: 'redshift-data', status: 403, ApiError });

// ---- SQL helpers ---------------------------------------------------------------
// :name -> $n, skipping quotes, comments, dollar quotes and ::.
function bindNames(sql, params) {
  const values = [], used = new Set();
  let out = '', i = 0;
  while (i < sql.length) {
    const c = sql[i], d = sql[i + 1];
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= sql.length) break;
        if (sql[j] === c) { if (sql[j + 1] === c) { j += 2; continue; } break; }
        j++;
      }
      out += sql.slice(i, j + 1); i = j + 1;
    } else if (c === '-' && d === '-') {
      const j = sql.indexOf('\n', i); const e = j < 0 ? sql.length : j;
      out += sql.slice(i, e); i = e;
    } else if (c === '/' && d === '*') {
      const j = sql.indexOf('*/', i + 2); const e = j < 0 ? sql.length : j + 2;
      out += sql.slice(i, e); i = e;
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))[0];
      const j = sql.indexOf(tag, i + tag.length); const e = j < 0 ? sql.length : j + tag.length;
      out += sql.slice(i, e); i = e;
    } else if (c === ':' && d === ':') {
      out += '::'; i += 2;
    } else if (c === ':' && /[A-Za-z0-9_]/.test(d || '') && !/[A-Za-z0-9_\]]/.test(sql[i - 1] || ' ')) {
      const name = /^[A-Za-z0-9_]+/.exec(sql.slice(i + 1))[0];
      if (!(name in params)) throw validation(`The parameter ${name} in the SQL statement is not defined in Parameters.`);
      values.push(params[name]); used.add(name);
      out += `$${values.length}`; i += 1 + name.length;
    } else { out += c; i++; }
  }
  return { text: out, values, used };
}

const typeNames = { 16: 'bool', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 700: 'float4',
                    701: 'float8', 1042: 'bpchar', 1043: 'varchar', 1082: 'date', 1114: 'timestamp',
                    1184: 'timestamptz', 1700: 'numeric', 18: 'char', 19: 'name', 26: 'oid' };
function field(v, oid) {
  if (v === null || v === undefined) return { isNull: true };
  if (oid === 16) return { booleanValue: v };
  if (oid === 20 || oid === 21 || oid === 23 || oid === 26) return { longValue: Number(v) };
  if (oid === 700 || oid === 701) return { doubleValue: Number(v) };
  if (Buffer.isBuffer(v)) return { blobValue: v.toString('base64') };
  return { stringValue: String(v) };
}
function columnMeta(f) {
  const t = typeNames[f.dataTypeID] || `oid${f.dataTypeID}`;
  return { name: f.name, label: f.name, typeName: t, nullable: 1, isSigned: ['int2', 'int4', 'int8', 'float4', 'float8', 'numeric'].includes(t),
           isCaseSensitive: ['text', 'varchar', 'bpchar'].includes(t), isCurrency: false, length: 0,
           precision: 0, scale: 0, schemaName: '', tableName: '' };
}

// ---- statements ------------------------------------------------------------------
const statements = new Map();   // Id -> statement
const tokens = new Map();       // ClientToken -> Id
const now = () => Date.now() / 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function newStatement(op, body) {
  const id = randomUUID();
  const sqls = op === 'BatchExecuteStatement' ? body.Sqls : [body.Sql];
  const params = {};
  for (const p of body.Parameters || []) params[p.name] = p.value;
  const t = now();
  const st = {
    Id: id, op, batch: op === 'BatchExecuteStatement', params, body, token: body.ClientToken,
    Status: 'SUBMITTED', CreatedAt: t, UpdatedAt: t, Error: undefined, Duration: -1, pid: 0,
    cancel: false, runs: 0,
    subs: sqls.map((q, i) => ({ Id: `${id}:${i + 1}`, QueryString: q, Status: 'SUBMITTED', CreatedAt: t,
                                UpdatedAt: t, Duration: -1, ResultRows: -1, ResultSize: -1,
                                HasResultSet: false, rows: null, fields: null })),
  };
  // Every :name must have a value; a batch must use every parameter.
  const used = new Set();
  st.bound = st.subs.map((s) => { const b = bindNames(s.QueryString, params); b.used.forEach((n) => used.add(n)); return b; });
  for (const n of Object.keys(params))
    if (!used.has(n)) throw validation(`The parameter ${n} is not used in any SQL statement.`);
  return st;
}

// ---- COPY from S3 -------------------------------------------------------------
const ident = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)`;
const copyRe = new RegExp(String.raw`^\s*COPY\s+(${ident}(?:\.${ident})?)\s*(\((?:[^()"]|"(?:[^"]|"")*")*\))?\s*FROM\s+'((?:[^']|'')*)'([\s\S]*)$`, 'i');
function parseCopy(sql) {
  const m = copyRe.exec(sql);
  if (!m) return null;
  const c = { table: m[1], cols: m[2] || '', from: m[3].replace(/''/g, "'"), csv: false, header: 0, emptyAsNull: false, role: null };
  let rest = m[4].trim();
  const take = (re) => { const x = re.exec(rest); if (x) rest = rest.slice(x[0].length).trim(); return x; };
  while (rest.length) {
    let x;
    if ((x = take(/^IAM_ROLE\s+'((?:[^']|'')*)'/i))) c.role = x[1];
    else if (take(/^(?:FORMAT\s+(?:AS\s+)?)?CSV\b/i)) c.csv = true;
    else if ((x = take(/^IGNOREHEADER\s+(?:AS\s+)?(\d+)/i))) c.header = Number(x[1]);
    else if (take(/^EMPTYASNULL\b/i)) c.emptyAsNull = true;
    else throw new Error(`syntax error at or near "${rest.split(/\s+/)[0]}" (the peer's COPY knows IAM_ROLE, FORMAT AS CSV, IGNOREHEADER, EMPTYASNULL)`);
  }
  if (!c.role) throw new Error('Missing credentials: COPY needs IAM_ROLE (or CREDENTIALS)');
  if (!c.csv) throw new Error('The peer loads FORMAT AS CSV only');
  if (c.header > 1) throw new Error('The peer skips at most one header line');
  return c;
}

const s3Key = keys.entries().next().value;
async function s3Request(method, pathAndQuery) {
  const ep = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL;
  if (!ep) throw new Error('S3ServiceException:no S3 endpoint (AWS_ENDPOINT_URL_S3) for the peer');
  const u = new URL(ep);
  const [p, q] = pathAndQuery.split('?');
  const query = {};
  for (const kv of (q || '').split('&').filter(Boolean)) {
    const [k, v = ''] = kv.split('=');
    query[decodeURIComponent(k)] = decodeURIComponent(v);
  }
  const signer = new SignatureV4({ credentials: { accessKeyId: s3Key[0], secretAccessKey: s3Key[1].secret },
                                   region: opt.region, service: 's3', sha256: Sha256, uriEscapePath: false });
  const signed = await signer.sign({ method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: p, query,
                                     headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: pathAndQuery, headers: signed.headers }, resolve);
    req.on('error', reject);
    req.end();
  });
}
const readAll = async (res) => { const c = []; for await (const x of res) c.push(x); return Buffer.concat(c).toString(); };
const enc = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (ch) => '%' + ch.charCodeAt(0).toString(16).toUpperCase());

async function copyFromS3(client, c) {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(c.from);
  if (!m) throw new Error(`Invalid S3 URL '${c.from}'`);
  const [, bucket, prefix] = m;
  const keysFound = [];
  let token = null;
  do {
    let q = `list-type=2&prefix=${enc(prefix)}`;
    if (token) q = `continuation-token=${enc(token)}&` + q;
    const res = await s3Request('GET', `/${bucket}?${q}`);
    const xml = await readAll(res);
    if (res.statusCode !== 200) throw new Error(`S3ServiceException:${(/<Code>([^<]*)</.exec(xml) || [])[1] || res.statusCode},Status ${res.statusCode}`);
    for (const k of xml.matchAll(/<Key>([^<]*)<\/Key>/g)) keysFound.push(k[1].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'"));
    token = /<IsTruncated>true</.test(xml) ? (/<NextContinuationToken>([^<]*)</.exec(xml) || [])[1] : null;
  } while (token);
  if (!keysFound.length) throw new Error(`The specified S3 prefix '${prefix}' does not exist`);
  let rows = 0;
  for (const k of keysFound) {
    const res = await s3Request('GET', `/${bucket}/${k.split('/').map(enc).join('/')}`);
    if (res.statusCode !== 200) throw new Error(`S3ServiceException:${(/<Code>([^<]*)</.exec(await readAll(res)) || [])[1]},Status ${res.statusCode}`);
    const stream = client.query(copyFrom(`COPY ${c.table} ${c.cols} FROM STDIN WITH (FORMAT csv${c.header ? ', HEADER true' : ''})`));
    await pipeline(res, stream);
    rows += stream.rowCount;
  }
  log({ event: 'copy', from: c.from, objects: keysFound.length, rows });
  return { command: 'COPY', rowCount: rows, fields: [] };
}

// ---- Redshift's dialect where PostgreSQL would be kinder ---------------------
// Refused as Redshift refuses them: INSERT ... ON CONFLICT (no such clause),
// a cast to BOOLEAN (Redshift cannot cast VARCHAR to BOOLEAN), ALTER COLUMN
// ... TYPE inside a batch (not in a transaction block). Rewritten to what
// Redshift would make of them, in CREATE TABLE and ALTER TABLE ... ADD
// [COLUMN]: TEXT -> VARCHAR(256) (Redshift's TEXT), a bare NUMERIC/DECIMAL
// -> NUMERIC(18,0) (decimals rounded away), and PRIMARY KEY / UNIQUE
// dropped (Redshift declares keys but never enforces them: duplicates go in
// silently). Quoted strings and identifiers are left alone. The body of a
// CREATE PROCEDURE ... AS $$ BEGIN s1; s2; ... END; $$ is checked and
// rewritten statement by statement (its statements run in the caller's
// transaction, as a CALL in a batch does on Redshift).
class RedshiftError extends Error {}
const quoteRe = /'(?:[^']|'')*'|"(?:[^"]|"")*"/g;
const procRe = /^(\s*CREATE\s+(?:OR\s+REPLACE\s+)?PROCEDURE\b[^$]*\$\$)([\s\S]*)(\$\$[\s\S]*)$/i;
function redshiftDialect(sql, inBatch) {
  const quoted = [];
  const pm = procRe.exec(sql);
  if (pm) {
    const body = pm[2].replace(quoteRe, (q) => { quoted.push(q); return `\u0000${quoted.length - 1}\u0000`; });
    const restore = (x) => x.replace(/\u0000(\d+)\u0000/g, (_, i) => quoted[Number(i)]);
    const out = body.split(';').map(restore).map((part) => {
      const m = /^(\s*(?:BEGIN\b\s*)?)([\s\S]*)$/i.exec(part);
      if (!m[2].trim() || /^\s*END\s*$/i.test(m[2])) return part;
      return m[1] + redshiftDialect(m[2], true);
    });
    return pm[1] + out.join(';') + pm[3];
  }
  let bare = sql.replace(quoteRe, (q) => { quoted.push(q); return `\u0000${quoted.length - 1}\u0000`; });
  if (/\bON\s+CONFLICT\b/i.test(bare))
    throw new RedshiftError('syntax error at or near "ON" (Redshift has no INSERT ... ON CONFLICT)');
  if (/\bAS\s+BOOL(?:EAN)?\s*\)|::\s*BOOL(?:EAN)?\b/i.test(bare))
    throw new RedshiftError('cannot cast type character varying to boolean');
  if (inBatch && /^\s*ALTER\s+TABLE\b[\s\S]*\bALTER\s+(?:COLUMN\s+)?\S+\s+TYPE\b/i.test(bare))
    throw new RedshiftError('ALTER TABLE ALTER COLUMN cannot run inside a transaction block');
  const ddl = /^\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?TABLE\b(?![\s\S]*\bAS\s+SELECT\b)/i.test(bare) ||
    /^\s*ALTER\s+TABLE\b[\s\S]*\bADD\b(?!\s+(?:CONSTRAINT|PRIMARY|UNIQUE|FOREIGN))/i.test(bare);
  if (!ddl) return sql;
  bare = bare.replace(/\bTEXT\b/gi, 'VARCHAR(256)')
    .replace(/\b(?:NUMERIC|DECIMAL)\b(?!\s*\()/gi, 'NUMERIC(18,0)')
    .replace(/,\s*(?:CONSTRAINT\s+\S+\s+)?(?:PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)/gi, '')
    .replace(/\s+(?:PRIMARY\s+KEY|UNIQUE)\b/gi, '');
  return bare.replace(/\u0000(\d+)\u0000/g, (_, i) => quoted[Number(i)]);
}

async function execute(client, b, inBatch) {
  const c = parseCopy(b.text);
  if (c) return copyFromS3(client, c);
  return client.query({ text: redshiftDialect(b.text, inBatch), values: b.values, rowMode: 'array' });
}

function setStatus(st, s) { st.Status = s; st.UpdatedAt = now(); }

async function run(st) {
  await sleep(opt.stepMs);
  if (st.cancel) return finishAborted(st);
  setStatus(st, 'PICKED');
  await sleep(opt.stepMs);
  if (st.cancel) return finishAborted(st);
  let client;
  try { client = await pool.connect(); } catch (e) {
    st.Error = `could not connect to the database: ${e.message}`; setStatus(st, 'FAILED'); log({ event: 'run', id: st.Id, token: st.token, status: 'FAILED', error: st.Error }); return;
  }
  st.pid = client.processID || 0;
  setStatus(st, 'STARTED');
  st.runs++;
  const t0 = process.hrtime.bigint();
  let failed = null;
  try {
    if (st.batch) await client.query('BEGIN');
    for (let i = 0; i < st.subs.length; i++) {
      const sub = st.subs[i], b = st.bound[i];
      if (st.cancel) throw Object.assign(new Error('Query cancelled on user\'s request'), { aborted: true });
      sub.Status = 'STARTED'; sub.UpdatedAt = now();
      const s0 = process.hrtime.bigint();
      try {
        const r = await execute(client, b, st.batch);
        const res = Array.isArray(r) ? r[r.length - 1] : r;
        sub.Duration = Number(process.hrtime.bigint() - s0);
        if (res.fields && res.fields.length && res.command === 'SELECT') {
          sub.HasResultSet = true; sub.fields = res.fields; sub.rows = res.rows;
          sub.ResultRows = res.rows.length; sub.ResultSize = JSON.stringify(res.rows).length;
        } else {
          sub.ResultRows = res.rowCount ?? -1;
        }
        sub.Status = 'FINISHED'; sub.UpdatedAt = now();
      } catch (e) {
        sub.Status = st.cancel ? 'ABORTED' : 'FAILED'; sub.Error = e.message; sub.UpdatedAt = now();
        throw e;
      }
    }
    if (st.batch) await client.query('COMMIT');
  } catch (e) {
    failed = e;
    if (st.batch) await client.query('ROLLBACK').catch(() => {});
    for (const sub of st.subs) if (sub.Status === 'SUBMITTED') { sub.Status = 'ABORTED'; sub.UpdatedAt = now(); }
  } finally {
    client.release();
  }
  st.Duration = Number(process.hrtime.bigint() - t0);
  await sleep(opt.stepMs);
  if (failed && (st.cancel || failed.aborted)) { st.Error = 'Query cancelled on user\'s request'; setStatus(st, 'ABORTED'); }
  else if (failed) { st.Error = `ERROR: ${failed.message}`; setStatus(st, 'FAILED'); }
  else setStatus(st, 'FINISHED');
  log({ event: 'run', id: st.Id, token: st.token, status: st.Status, statements: st.subs.length, error: st.Error });
}

function finishAborted(st) {
  st.Error = 'Query cancelled on user\'s request';
  for (const sub of st.subs) { sub.Status = 'ABORTED'; sub.UpdatedAt = now(); }
  setStatus(st, 'ABORTED');
  log({ event: 'run', id: st.Id, token: st.token, status: 'ABORTED' });
}

function target(st) {
  const b = st.body, o = { Database: b.Database };
  for (const k of ['ClusterIdentifier', 'WorkgroupName', 'DbUser', 'SecretArn'])
    if (b[k] !== undefined) o[k] = b[k];
  return o;
}

function findStatement(id) {
  const m = /^([a-z0-9]{8}(?:-[a-z0-9]{4}){3}-[a-z0-9]{12})(?::(\d{1,2}))?$/.exec(id);
  const st = m && statements.get(m[1]);
  if (!st) throw new ApiError(400, 'ResourceNotFoundException', `Query does not exist.`);
  if (m[2] === undefined) return { st, sub: null };
  const sub = st.batch ? st.subs[Number(m[2]) - 1] : null;
  if (!sub) throw new ApiError(400, 'ResourceNotFoundException', `Query does not exist.`);
  return { st, sub };
}

function submitResponse(st) {
  const o = { Id: st.Id, CreatedAt: st.CreatedAt, ...target(st) };
  if (st.op === 'ExecuteStatement') o.Status = 'SUBMITTED';
  return o;
}

// ---- statistics (bench/run_dataapi_poll) ----------------------------------------
const stats = { requests: 0, first: 0, last: 0, lateness: [] };
const lastAnswer = new Map(); // Id -> ms when its last answer went out
function noteRequest(action, body) {
  const t = Date.now();
  stats.requests++;
  if (!stats.first) stats.first = t;
  stats.last = t;
  if (action === 'DescribeStatement' && lastAnswer.has(body.Id))
    stats.lateness.push(t - lastAnswer.get(body.Id) - 1000);
}
function statsJson() {
  const l = [...stats.lateness].sort((a, b) => a - b);
  const q = (p) => (l.length ? l[Math.min(l.length - 1, Math.floor(p * l.length))] : null);
  const secs = (stats.last - stats.first) / 1000;
  return { requests: stats.requests, seconds: secs, requests_per_s: secs > 0 ? stats.requests / secs : null,
           polls: l.length, lateness_ms: { p50: q(0.5), p99: q(0.99), max: l.length ? l[l.length - 1] : null } };
}

const ops = {
  ExecuteStatement: (b) => submit('ExecuteStatement', b),
  BatchExecuteStatement: (b) => submit('BatchExecuteStatement', b),
  DescribeStatement(b) {
    const { st, sub } = findStatement(b.Id);
    if (sub) {
      const o = { Id: sub.Id, Status: sub.Status, CreatedAt: sub.CreatedAt, UpdatedAt: sub.UpdatedAt,
                  Duration: sub.Duration, HasResultSet: sub.HasResultSet, QueryString: sub.QueryString,
                  ResultRows: sub.ResultRows, ResultSize: sub.ResultSize, RedshiftQueryId: 0, RedshiftPid: st.pid,
                  ...target(st) };
      if (sub.Error) o.Error = sub.Error;
      return o;
    }
    const o = { Id: st.Id, Status: st.Status, CreatedAt: st.CreatedAt, UpdatedAt: st.UpdatedAt,
                Duration: st.Duration, RedshiftPid: st.pid, RedshiftQueryId: 0,
                HasResultSet: st.subs.some((s) => s.HasResultSet), ...target(st) };
    if (st.Error) o.Error = st.Error;
    if (st.batch) {
      o.ResultRows = -1; o.ResultSize = -1;
      o.SubStatements = st.subs.map((s) => {
        const x = { Id: s.Id, Status: s.Status, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
                    Duration: s.Duration, QueryString: s.QueryString, ResultRows: s.ResultRows,
                    ResultSize: s.ResultSize, RedshiftQueryId: 0, HasResultSet: s.HasResultSet };
        if (s.Error) x.Error = s.Error;
        return x;
      });
    } else {
      const s = st.subs[0];
      Object.assign(o, { QueryString: s.QueryString, ResultRows: s.ResultRows, ResultSize: s.ResultSize });
    }
    if (st.body.Parameters) o.QueryParameters = st.body.Parameters;
    return o;
  },
  GetStatementResult(b) {
    const { st, sub } = findStatement(b.Id);
    if (st.batch && !sub) throw validation('Query has multiple statements. Use the Id of a sub-statement (Id:n) to get its result.');
    const s = sub || st.subs[0];
    if (s.Status !== 'FINISHED' || !s.HasResultSet)
      throw new ApiError(400, 'ResourceNotFoundException', 'Query does not have result. Please check query status with DescribeStatement.');
    let off = 0;
    if (b.NextToken !== undefined) {
      off = Number(Buffer.from(b.NextToken, 'base64').toString());
      if (!Number.isInteger(off) || off < 0 || off > s.rows.length) throw validation('Invalid NextToken.');
    }
    const oids = s.fields.map((f) => f.dataTypeID);
    const page = s.rows.slice(off, off + opt.pageRows).map((r) => r.map((v, i) => field(v, oids[i])));
    const o = { Records: page, ColumnMetadata: s.fields.map(columnMeta), TotalNumRows: s.rows.length };
    if (off + opt.pageRows < s.rows.length) o.NextToken = Buffer.from(String(off + opt.pageRows)).toString('base64');
    return o;
  },
  async CancelStatement(b) {
    const { st } = findStatement(b.Id);
    if (!['SUBMITTED', 'PICKED', 'STARTED'].includes(st.Status))
      throw validation(`Could not cancel a query that is already in ${st.Status} state with ID: ${st.Id}`);
    st.cancel = true;
    if (st.Status === 'STARTED' && st.pid) await pool.query('SELECT pg_cancel_backend($1)', [st.pid]).catch(() => {});
    return { Status: true };
  },
};

function submit(op, b) {
  if ((b.ClusterIdentifier === undefined) === (b.WorkgroupName === undefined))
    throw validation('Either ClusterIdentifier or WorkgroupName must be specified, but not both.');
  if (b.SecretArn !== undefined && b.DbUser !== undefined)
    throw validation('Specify either SecretArn or DbUser, not both.');
  if (b.WorkgroupName !== undefined && b.DbUser !== undefined)
    throw validation('DbUser is not supported for a workgroup.');
  if (b.Database === undefined && b.SessionId === undefined)
    throw validation('Database must be specified.');
  if (b.ExecutionMode && b.ExecutionMode !== 'TRANSACTION')
    throw validation('The peer runs batches in TRANSACTION mode only.');
  for (const s of (b.Sqls || [b.Sql]))
    if (Buffer.byteLength(s) > 100 * 1024) throw validation('The SQL statement exceeds the maximum statement size of 100 KB.');
  if (b.ClientToken !== undefined && tokens.has(b.ClientToken)) {
    const st = statements.get(tokens.get(b.ClientToken));
    log({ event: 'dedupe', id: st.Id, token: b.ClientToken, op });
    return submitResponse(st);
  }
  const st = newStatement(op, b);
  statements.set(st.Id, st);
  if (b.ClientToken !== undefined) tokens.set(b.ClientToken, st.Id);
  log({ event: 'submit', id: st.Id, token: st.token, op, statements: st.subs.length, name: b.StatementName });
  run(st).catch((e) => { st.Error = String(e && e.message); setStatus(st, 'FAILED'); });
  return submitResponse(st);
}

// ---- faults ------------------------------------------------------------------------
let faults = [];  // [{kind, count, action, after, slow_ms}]
function takeFault(action) {
  const f = faults.find((x) => x.count > 0 && (!x.action || x.action === action));
  if (!f) return null;
  if (f.skip > 0) { f.skip--; return null; }
  f.count--;
  faults = faults.filter((x) => x.count > 0);
  return f;
}

function sendJson(res, status, obj, fault) {
  const text = JSON.stringify(obj);
  const headers = { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(text),
                    'x-amzn-RequestId': randomUUID() };
  if (fault && fault.kind === 'reset') { res.socket.resetAndDestroy(); return; }
  if (fault && fault.kind === 'delay') {
    setTimeout(() => { if (!res.destroyed) { res.writeHead(status, headers); res.end(text); } }, fault.delay_ms || 5000);
    return;
  }
  if (fault && fault.kind === 'slow') {
    res.writeHead(status, headers);
    let i = 0;
    const tick = () => {
      if (res.destroyed || i >= text.length) { if (!res.destroyed) res.end(); return; }
      res.write(text[i++]);
      setTimeout(tick, fault.slow_ms || 200);
    };
    tick();
    return;
  }
  res.writeHead(status, headers);
  res.end(text);
}

function sendError(res, e, fault) {
  if (e instanceof ApiError) sendJson(res, e.status, { __type: `com.amazonaws.redshiftdata#${e.type}`, message: e.message }, fault);
  else sendJson(res, 500, { __type: 'InternalServerException', message: String(e && e.message) }, fault);
}

async function control(req, res, raw) {
  const body = raw ? JSON.parse(raw) : {};
  if (req.url === '/__peer/fault' && req.method === 'POST') {
    faults.push({ kind: body.kind, count: body.count ?? 1, action: body.action, after: !!body.after,
                  slow_ms: body.slow_ms, delay_ms: body.delay_ms, skip: body.skip ?? 0 });
    return sendJson(res, 200, { ok: true });
  }
  if (req.url === '/__peer/config' && req.method === 'POST') {
    if (body.step_ms !== undefined) opt.stepMs = body.step_ms;
    if (body.page_rows !== undefined) opt.pageRows = body.page_rows;
    return sendJson(res, 200, { ok: true });
  }
  if (req.url === '/__peer/stats') return sendJson(res, 200, statsJson());
  if (req.url === '/__peer/statements') {
    return sendJson(res, 200, [...statements.values()].map((s) => ({ Id: s.Id, ClientToken: s.token, Status: s.Status, runs: s.runs, op: s.op, statements: s.subs.length })));
  }
  return sendJson(res, 404, { message: 'unknown control endpoint' });
}

async function handle(req, res, raw) {
  if (req.url.startsWith('/__peer/')) return control(req, res, raw);
  const targetHdr = req.headers['x-amz-target'] || '';
  const action = targetHdr.startsWith('RedshiftData.') ? targetHdr.slice(13) : '';
  const fault = takeFault(action);
  if (fault && !fault.after) {
    if (fault.kind === 'throttle') return sendJson(res, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
    if (fault.kind === '500') return sendJson(res, 500, { __type: 'InternalServerException', message: 'Internal server error (injected)' });
    if (fault.kind === 'reset') { req.socket.resetAndDestroy(); return; }
  }
  try {
    if (req.method !== 'POST' || req.url !== '/') throw new ApiError(404, 'UnknownOperationException', `${req.method} ${req.url}`);
    await checkSignature(req, raw);
    if (!ops[action] || !model.operations[action]) throw new ApiError(400, 'UnknownOperationException', `Unknown operation ${targetHdr}`);
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') throw new ApiError(400, 'SerializationException', `Content-Type must be application/x-amz-json-1.1`);
    let body;
    try { body = JSON.parse(raw || '{}'); } catch { throw new ApiError(400, 'SerializationException', 'Request body is not valid JSON'); }
    validateInput(action, body);
    noteRequest(action, body);
    const out = await ops[action](body);
    if (out && out.Id && (action === 'ExecuteStatement' || action === 'DescribeStatement'))
      lastAnswer.set(out.Id, Date.now());
    sendJson(res, 200, out, fault);
  } catch (e) {
    sendError(res, e, fault);
  }
}

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size <= 16 << 20) chunks.push(c); });
  req.on('end', () => {
    if (size > 16 << 20) return sendJson(res, 413, { __type: 'SerializationException', message: 'Request too large' });
    handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((e) => sendError(res, e));
  });
});
server.keepAliveTimeout = 30000;
server.listen(opt.port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
const stop = () => { server.close(); pool.end().finally(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
