// SPDX-License-Identifier: MIT
// An S3 peer for stepwise's tests: s3rver (npm) on 127.0.0.1 behind a
// small front that checks what s3rver does not: the SigV4 signature
// (recomputed with AWS's signer, @smithy/signature-v4, S3 rules: the path
// is signed as sent, the payload hash is the x-amz-content-sha256 header)
// and that header against the body (XAmzContentSHA256Mismatch).
//
//   node --openssl-legacy-provider tests/peers/s3/server.mjs --dir DIR
//        [--bucket NAME]... [--region R]
//
// (s3rver's ListObjectsV2 continuation tokens are DES-encrypted, which
// OpenSSL 3 only offers through its legacy provider: without the flag a
// second page fails with InternalError, so the peer refuses to start.)
// Prints "listening http://127.0.0.1:PORT" as its first stdout line. DIR
// holds s3rver's objects (a throwaway directory). Buckets named with
// --bucket exist at start. Path-style addressing only.
// Environment: S3PEER_ACCESS_KEY_ID / S3PEER_SECRET_ACCESS_KEY (default
// AKIDSTEPWISETEST / stepwise-test-secret, the tests' keys).
//
// Control (unsigned), under /__peer/:
//   POST /__peer/deny {"path": "/bucket/prefix"}  AccessDenied (403) for
//                     every request whose path starts with it
//   GET  /__peer/stats  {"requests": N, "max_put_bytes": N, "puts": N}
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';

import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

const opt = { dir: null, buckets: [], region: 'us-east-1' };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--dir') { opt.dir = v; i++; }
  else if (a === '--bucket') { opt.buckets.push(v); i++; }
  else if (a === '--region') { opt.region = v; i++; }
  else { console.error(`s3 peer: unknown argument ${a}`); process.exit(2); }
}
if (!opt.dir) { console.error('s3 peer: --dir DIR is required'); process.exit(2); }

try { crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8)); } catch {
  console.error('s3 peer: run node with --openssl-legacy-provider (s3rver needs DES for continuation tokens)');
  process.exit(2);
}

const keys = new Map([[process.env.S3PEER_ACCESS_KEY_ID || 'AKIDSTEPWISETEST',
                       process.env.S3PEER_SECRET_ACCESS_KEY || 'stepwise-test-secret']]);
const denied = [];
const stats = { requests: 0, puts: 0, max_put_bytes: 0 };

function xmlError(res, status, code, message, resource) {
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${esc(message)}</Message>` +
               `<Resource>${esc(resource)}</Resource><RequestId>${crypto.randomUUID()}</RequestId></Error>`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

class S3Fail extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function checkSignature(req, body) {
  const auth = req.headers.authorization;
  const m = auth && /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new S3Fail(403, 'AccessDenied', 'Anonymous access is forbidden for this operation');
  const [, akid, , region, service, signedList, signature] = m;
  const secret = keys.get(akid);
  if (secret === undefined) throw new S3Fail(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  if (service !== 's3') throw new S3Fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; incorrect service "${service}". This endpoint belongs to "s3".`);
  if (region !== opt.region) throw new S3Fail(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${region}' is wrong; expecting '${opt.region}'`);
  const sha = req.headers['x-amz-content-sha256'];
  if (!sha) throw new S3Fail(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  const signed = signedList.split(';');
  if (!signed.includes('x-amz-content-sha256')) throw new S3Fail(403, 'AccessDenied', 'x-amz-content-sha256 must be signed');
  if (sha !== 'UNSIGNED-PAYLOAD') {
    const got = crypto.createHash('sha256').update(body).digest('hex');
    if (got !== sha) throw new S3Fail(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const amzDate = req.headers['x-amz-date'] || '';
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dm) throw new S3Fail(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  const date = new Date(Date.UTC(+dm[1], dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
  const headers = {};
  for (const h of signed) {
    if (req.headers[h] === undefined) throw new S3Fail(403, 'SignatureDoesNotMatch', `Signed header '${h}' is missing.`);
    headers[h] = req.headers[h];
  }
  const [pathPart, queryPart] = req.url.split('?');
  const query = {};
  for (const kv of (queryPart || '').split('&').filter(Boolean)) {
    const i = kv.indexOf('=');
    const k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i));
    query[k] = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
  }
  const [hostname, port] = String(req.headers.host).split(':');
  const signer = new SignatureV4({ credentials: { accessKeyId: akid, secretAccessKey: secret },
                                   region, service, sha256: Sha256, applyChecksum: false, uriEscapePath: false });
  const out = await signer.sign({ method: req.method, protocol: 'http:', hostname, port: port ? Number(port) : undefined,
                                  path: pathPart, query, headers, body: undefined }, { signingDate: date });
  const want = /Signature=([0-9a-f]{64})/.exec(out.headers.authorization)[1];
  if (want !== signature)
    throw new S3Fail(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
}

const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: opt.dir,
                        configureBuckets: opt.buckets.map((name) => ({ name })) });
const inner = await s3.run();

const front = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    if (req.url.startsWith('/__peer/')) {
      if (req.url === '/__peer/deny') { denied.push(JSON.parse(body.toString()).path); res.end('{"ok":true}'); return; }
      if (req.url === '/__peer/stats') { res.end(JSON.stringify(stats)); return; }
      res.writeHead(404); res.end(); return;
    }
    stats.requests++;
    const path = decodeURIComponent(req.url.split('?')[0]);
    try {
      await checkSignature(req, body);
      if (denied.some((p) => path.startsWith(p))) throw new S3Fail(403, 'AccessDenied', 'Access Denied');
    } catch (e) {
      if (e instanceof S3Fail) return xmlError(res, e.status, e.code, e.message, path);
      return xmlError(res, 500, 'InternalError', String(e && e.message), path);
    }
    if (req.method === 'PUT') { stats.puts++; stats.max_put_bytes = Math.max(stats.max_put_bytes, body.length); }
    const headers = { ...req.headers };
    delete headers.authorization; // s3rver knows only its own keys; checked above
    const fwd = http.request({ host: '127.0.0.1', port: inner.port, method: req.method, path: req.url, headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    fwd.on('error', (e) => xmlError(res, 500, 'InternalError', e.message, path));
    fwd.end(body);
  });
});
front.keepAliveTimeout = 30000;
front.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${front.address().port}\n`);
});
const stop = () => { front.close(); s3.close(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
