// Request checks the AWS stand-ins share: a botocore model validator and a
// SigV4 check that recomputes the signature with AWS's own signer
// (@smithy/signature-v4). Test code only.
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

// botocore patterns are Java regular expressions; most compile in unicode
// mode (which matches code points, as Java does), some only without it.
const patterns = new Map();
function patternRegExp(p) {
  let re = patterns.get(p);
  if (!re) {
    try { re = new RegExp(`^(?:${p})$`, 'u'); } catch { re = new RegExp(`^(?:${p})$`); }
    patterns.set(p, re);
  }
  return re;
}

function describeValue(v) {
  if (typeof v === 'string') return `'${v.length > 60 ? v.slice(0, 60) + '...' : v}'`;
  return JSON.stringify(v);
}

function validateShape(model, shapeName, v, where, errors) {
  const s = model.shapes[shapeName];
  const at = where || 'request';
  const shown = s.sensitive ? '*** Sensitive Data Redacted ***' : describeValue(v);
  const fail = (c) => errors.push(`Value ${shown} at '${at}' failed to satisfy constraint: ${c}`);
  switch (s.type) {
  case 'structure': {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) { fail('Member must be a structure'); return; }
    for (const r of s.required || [])
      if (v[r] === undefined || v[r] === null)
        errors.push(`Value null at '${where ? where + '.' : ''}${r}' failed to satisfy constraint: Member must not be null`);
    for (const [k, val] of Object.entries(v)) {
      const m = s.members[k];
      if (!m) { errors.push(`Unknown member '${k}' at '${at}'`); continue; }
      if (val === null) continue;
      validateShape(model, m.shape, val, where ? `${where}.${k}` : k, errors);
    }
    if (s.union && Object.keys(v).length !== 1) fail('Member must set exactly one union member');
    return;
  }
  case 'list':
    if (!Array.isArray(v)) { fail('Member must be a list'); return; }
    if (s.min !== undefined && v.length < s.min) fail(`Member must have length greater than or equal to ${s.min}`);
    if (s.max !== undefined && v.length > s.max) fail(`Member must have length less than or equal to ${s.max}`);
    v.forEach((x, i) => validateShape(model, s.member.shape, x, `${at}.${i + 1}.member`, errors));
    return;
  case 'map':
    if (typeof v !== 'object' || Array.isArray(v)) { fail('Member must be a map'); return; }
    return;
  case 'string':
    if (typeof v !== 'string') { fail('Member must be a string'); return; }
    if (s.min !== undefined && v.length < s.min) fail(`Member must have length greater than or equal to ${s.min}`);
    if (s.max !== undefined && v.length > s.max) fail(`Member must have length less than or equal to ${s.max}`);
    if (s.enum && !s.enum.includes(v)) fail(`Member must satisfy enum value set: [${s.enum.join(', ')}]`);
    if (s.pattern && !patternRegExp(s.pattern).test(v)) fail(`Member must satisfy regular expression pattern: ${s.pattern}`);
    return;
  case 'integer': case 'long':
    if (typeof v !== 'number' || !Number.isInteger(v)) { fail('Member must be an integer'); return; }
    if (s.min !== undefined && v < s.min) fail(`Member must have value greater than or equal to ${s.min}`);
    if (s.max !== undefined && v > s.max) fail(`Member must have value less than or equal to ${s.max}`);
    return;
  case 'double': case 'float':
    if (typeof v !== 'number') fail('Member must be a number');
    return;
  case 'boolean':
    if (typeof v !== 'boolean') fail('Member must be a boolean');
    return;
  case 'timestamp':
    if (typeof v !== 'number') fail('Member must be a timestamp');
    return;
  case 'blob':
    if (typeof v !== 'string') fail('Member must be base64 text');
    return;
  default:
    return;
  }
}

// validateInput(op, body) for a botocore model; throws validationError(msg)
// with AWS's "N validation error(s) detected: ..." text.
export function makeValidator(model, validationError) {
  return (op, body) => {
    const input = model.operations[op].input;
    const errors = [];
    if (input) validateShape(model, input.shape, body, '', errors);
    if (errors.length)
      throw validationError(`${errors.length} validation error${errors.length > 1 ? 's' : ''} detected: ${errors.join('; ')}`);
  };
}

// Check a request's SigV4 Authorization the way AWS does; throws
// ApiError(status, type, message) on any mismatch. keys: Map of access key
// id -> {secret, token?}.
export async function checkSigV4(req, raw, { keys, region: wantRegion, service: wantService, status, ApiError }) {
  const auth = req.headers.authorization;
  const m = auth && /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) throw new ApiError(status, 'IncompleteSignatureException', 'Authorization header requires Credential, SignedHeaders and Signature (AWS4-HMAC-SHA256).');
  const [, akid, day, region, service, signedList, signature] = m;
  const key = keys.get(akid);
  if (!key) throw new ApiError(status, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
  if (service !== wantService) throw new ApiError(status, 'InvalidSignatureException', `Credential should be scoped to correct service: '${wantService}'.`);
  if (region !== wantRegion) throw new ApiError(status, 'InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'.`);
  const amzDate = req.headers['x-amz-date'];
  const dm = amzDate && /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dm) throw new ApiError(status, 'IncompleteSignatureException', 'Authorization header requires existence of either a X-Amz-Date or a Date header.');
  const date = new Date(Date.UTC(+dm[1], dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]));
  if (amzDate.slice(0, 8) !== day) throw new ApiError(status, 'InvalidSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.');
  if (Math.abs(Date.now() - date.getTime()) > 15 * 60 * 1000) throw new ApiError(status, 'InvalidSignatureException', 'Signature expired: request time is more than 15 minutes from the server time.');
  const signed = signedList.split(';');
  if (!signed.includes('host')) throw new ApiError(status, 'InvalidSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization.");
  if (key.token !== undefined) {
    if (req.headers['x-amz-security-token'] !== key.token)
      throw new ApiError(status, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (!signed.includes('x-amz-security-token'))
      throw new ApiError(status, 'InvalidSignatureException', 'X-Amz-Security-Token must be signed.');
  }
  const headers = {};
  for (const h of signed) {
    if (req.headers[h] === undefined) throw new ApiError(status, 'InvalidSignatureException', `Signed header '${h}' is missing.`);
    headers[h] = req.headers[h];
  }
  const [hostname, port] = String(req.headers.host).split(':');
  const signer = new SignatureV4({
    credentials: { accessKeyId: akid, secretAccessKey: key.secret, sessionToken: key.token },
    region, service, sha256: Sha256, applyChecksum: false, uriEscapePath: true,
  });
  const out = await signer.sign({ method: req.method, protocol: 'http:', hostname,
                                  port: port ? Number(port) : undefined,
                                  path: req.url.split('?')[0], query: {}, headers, body: raw },
                                { signingDate: date });
  const got = /Signature=([0-9a-f]{64})/.exec(out.headers.authorization)[1];
  if (got !== signature)
    throw new ApiError(status, 'InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.');
}
