// SPDX-License-Identifier: MIT
// A Step Functions activity peer for stepwise's worker tests: an HTTP
// server on 127.0.0.1 that speaks the activity half of AWS Step Functions
// (AWS JSON 1.0) and checks every request the way AWS would.
//
//   node tests/peers/sfn/server.mjs [--port N] [--region R] [--account A]
//        [--poll-seconds S] [--model FILE] [--log FILE] [--activity NAME]...
// (--activity creates the activity NAME at start, as CreateActivity does)
//
// Prints "listening http://127.0.0.1:PORT" as its first stdout line.
// Credentials: SFN_ACCESS_KEY_ID / SFN_SECRET_ACCESS_KEY (default
// AKIDSTEPWISETEST / stepwise-test-secret).
//
// Checks, in AWS's order: SigV4 (recomputed with @smithy/signature-v4 over
// the signed headers and the body, service "states"), X-Amz-Target
// (AWSStepFunctions.<Op>) and Content-Type (application/x-amz-json-1.0),
// the body against botocore's stepfunctions service-2.json (required
// members, types, lengths, patterns, unknown members: 400
// ValidationException), then the operation's own rules.
//
// Operations: CreateActivity (idempotent by name), GetActivityTask (a real
// long poll: the request is held until a task is queued for the activity
// or --poll-seconds [60] pass; a poll whose connection closes is dropped
// and never handed a task), SendTaskSuccess / SendTaskFailure /
// SendTaskHeartbeat. A task is delivered exactly once. Its heartbeat clock
// (heartbeatSeconds) restarts at delivery and at each heartbeat; its
// timeout clock (timeoutSeconds) starts at delivery. When either lapses the
// task is TIMED_OUT, and any later call with its token gets TaskTimedOut,
// as does a second result for a closed task.
//
// Control (peer only, unsigned), under /__peer/:
//   POST /__peer/enqueue {"activityArn", "inputs": [JSON values] or
//        "input": value, "count": N, "heartbeatSeconds", "timeoutSeconds"}
//        -> {"ids": [...]}
//   GET  /__peer/tasks   every task: id, status, output, error, cause,
//                        deliveries, successAccepted, resultsRejected,
//                        heartbeats, worker
//   GET  /__peer/stats   counters per operation and outcome, waitingPolls,
//                        queued (tasks not yet delivered)
//   POST /__peer/fault   {"kind": "throttle"|"500"|"reset", "count": N,
//                        "action": "SendTaskSuccess"?, "after": bool (run
//                        the request, then answer with the fault)}
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import { checkSigV4, makeValidator } from '../lib/aws_checks.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- options --------------------------------------------------------------
const opt = { port: 0, region: 'us-east-1', account: '123456789012',
              pollSeconds: 60, model: null, log: null };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--port') { opt.port = Number(v); i++; }
  else if (a === '--region') { opt.region = v; i++; }
  else if (a === '--account') { opt.account = v; i++; }
  else if (a === '--poll-seconds') { opt.pollSeconds = Number(v); i++; }
  else if (a === '--model') { opt.model = v; i++; }
  else if (a === '--log') { opt.log = v; i++; }
  else if (a === '--activity') { (opt.activities ||= []).push(v); i++; }
  else { console.error(`sfn peer: unknown argument ${a}`); process.exit(2); }
}
const modelPath = opt.model || process.env.SW_SFN_MODEL ||
  path.resolve(here, '../../../../shared/reference/botocore/stepfunctions/service-2.json');
const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
const shapes = model.shapes;

const keys = new Map();
keys.set(process.env.SFN_ACCESS_KEY_ID || 'AKIDSTEPWISETEST',
         { secret: process.env.SFN_SECRET_ACCESS_KEY || 'stepwise-test-secret' });

const logStream = opt.log ? fs.createWriteStream(opt.log, { flags: 'a' }) : null;
function log(ev) { if (logStream) logStream.write(JSON.stringify({ t: Date.now(), ...ev }) + '\n'); }

// ---- errors ----------------------------------------------------------------
class ApiError extends Error {
  constructor(status, type, message) { super(message); this.status = status; this.type = type; }
}
const validation = (m) => new ApiError(400, 'ValidationException', m);

// ---- model validation ------------------------------------------------------
const validateInput = makeValidator(model, validation);
const checkSignature = (req, raw) =>
  checkSigV4(req, raw, { keys, region: opt.region, service: 'states', status: 400, ApiError });

// ---- state -------------------------------------------------------------------
const activities = new Map();   // arn -> {name, arn, creationDate, queue: [], waiters: []}
const tasks = new Map();        // token -> task
const byId = new Map();         // id -> task
let nextId = 1;
const stats = {};
const faults = [];
function count(k) { stats[k] = (stats[k] || 0) + 1; }

function activityArn(name) { return `arn:aws:states:${opt.region}:${opt.account}:activity:${name}`; }
function getActivity(arn) {
  const a = activities.get(arn);
  if (!a) throw new ApiError(400, 'ActivityDoesNotExist', `Activity does not exist: '${arn}'`);
  return a;
}
function ensureActivity(name) {
  const arn = activityArn(name);
  if (!activities.has(arn))
    activities.set(arn, { name, arn, creationDate: Date.now() / 1000, queue: [], waiters: [] });
  return activities.get(arn);
}

function closeTask(t, status, why) {
  t.status = status;
  clearTimeout(t.hbTimer); clearTimeout(t.toTimer);
  t.closedAt = Date.now();
  log({ ev: 'closed', id: t.id, status, why });
}

function armHeartbeat(t) {
  clearTimeout(t.hbTimer);
  if (t.heartbeatSeconds)
    t.hbTimer = setTimeout(() => { if (t.status === 'STARTED') closeTask(t, 'TIMED_OUT', 'heartbeat'); }, t.heartbeatSeconds * 1000);
}

function deliver(a, t, res, workerName) {
  t.status = 'STARTED';
  t.deliveries++;
  t.worker = workerName || null;
  t.startedAt = Date.now();
  armHeartbeat(t);
  if (t.timeoutSeconds)
    t.toTimer = setTimeout(() => { if (t.status === 'STARTED') closeTask(t, 'TIMED_OUT', 'timeout'); }, t.timeoutSeconds * 1000);
  log({ ev: 'delivered', id: t.id, worker: t.worker });
  return { taskToken: t.token, input: t.input };
}

// Hand queued tasks to waiting polls whose connection is still open.
function pump(a) {
  while (a.queue.length && a.waiters.length) {
    const w = a.waiters.shift();
    if (w.res.destroyed || w.done) continue;
    w.done = true;
    clearTimeout(w.timer);
    const t = a.queue.shift();
    w.resolve(deliver(a, t, w.res, w.workerName));
  }
}

function taskFor(token) {
  const t = tasks.get(token);
  if (!t) throw new ApiError(400, token.startsWith('AAAA') ? 'TaskDoesNotExist' : 'InvalidToken', 'Invalid Token');
  if (t.status !== 'STARTED') {
    t.resultsRejected++;
    throw new ApiError(400, 'TaskTimedOut', 'Task Timed Out: the task token has either expired or the task associated with the token has already been closed.');
  }
  return t;
}

// ---- operations ---------------------------------------------------------------
const ops = {
  async CreateActivity(b) {
    if (!/^[A-Za-z0-9_.\-]+$/.test(b.name)) throw new ApiError(400, 'InvalidName', `Invalid Name: '${b.name}'`);
    const a = ensureActivity(b.name);
    return { activityArn: a.arn, creationDate: a.creationDate };
  },
  async GetActivityTask(b, req, res) {
    const a = getActivity(b.activityArn);
    if (a.queue.length) return deliver(a, a.queue.shift(), res, b.workerName);
    if (a.waiters.length >= 1000) throw new ApiError(400, 'ActivityWorkerLimitExceeded', 'Too many pollers');
    return new Promise((resolve) => {
      const w = { res, resolve, workerName: b.workerName, done: false };
      w.timer = setTimeout(() => {
        if (w.done) return;
        w.done = true;
        a.waiters = a.waiters.filter((x) => x !== w);
        resolve({});
      }, opt.pollSeconds * 1000);
      // A poll whose client went away is never handed a task.
      res.on('close', () => {
        if (w.done) return;
        w.done = true;
        clearTimeout(w.timer);
        a.waiters = a.waiters.filter((x) => x !== w);
        count('GetActivityTask.abandoned');
      });
      a.waiters.push(w);
    });
  },
  async SendTaskSuccess(b) {
    const t = taskFor(b.taskToken);
    try { JSON.parse(b.output); } catch { throw new ApiError(400, 'InvalidOutput', 'Invalid Output: the output is not valid JSON'); }
    t.output = b.output;
    t.successAccepted++;
    closeTask(t, 'SUCCEEDED');
    return {};
  },
  async SendTaskFailure(b) {
    const t = taskFor(b.taskToken);
    t.error = b.error ?? null;
    t.cause = b.cause ?? null;
    t.failureAccepted++;
    closeTask(t, 'FAILED');
    return {};
  },
  async SendTaskHeartbeat(b) {
    const t = taskFor(b.taskToken);
    t.heartbeats++;
    armHeartbeat(t);
    return {};
  },
};

// ---- HTTP -----------------------------------------------------------------------
function sendJson(res, status, obj) {
  if (res.destroyed) return;
  const text = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0',
                          'Content-Length': Buffer.byteLength(text),
                          'x-amzn-RequestId': randomBytes(16).toString('hex') });
  res.end(text);
}
function sendError(res, e) {
  if (e instanceof ApiError) sendJson(res, e.status, { __type: `com.amazonaws.swf.service.v2.model#${e.type}`, message: e.message });
  else sendJson(res, 500, { __type: 'InternalFailure', message: String(e && e.message) });
}

function takeFault(action) {
  const i = faults.findIndex((f) => f.count > 0 && (!f.action || f.action === action));
  if (i < 0) return null;
  const f = faults[i];
  if (--f.count === 0) faults.splice(i, 1);
  return f;
}
function answerFault(req, res, f) {
  count(`fault.${f.kind}`);
  if (f.kind === 'throttle') return sendJson(res, 400, { __type: 'ThrottlingException', message: 'Rate exceeded' });
  if (f.kind === '500') return sendJson(res, 500, { __type: 'InternalFailure', message: 'Internal failure (injected)' });
  if (f.kind === 'reset') { req.socket.resetAndDestroy(); return; }
  return sendJson(res, 500, { __type: 'InternalFailure', message: 'unknown fault' });
}

function enqueue(b) {
  const a = getActivity(b.activityArn);
  const inputs = b.inputs || Array.from({ length: b.count || 1 }, () => b.input ?? {});
  const ids = [];
  for (const v of inputs) {
    const id = `t${nextId++}`;
    // Long, opaque tokens like AWS's (up to 2,048 characters).
    const token = 'AAAA' + randomBytes(420).toString('base64');
    const t = { id, token, activityArn: a.arn, input: typeof v === 'string' ? v : JSON.stringify(v),
                status: 'QUEUED', heartbeatSeconds: b.heartbeatSeconds || 0,
                timeoutSeconds: b.timeoutSeconds || 0, deliveries: 0,
                successAccepted: 0, failureAccepted: 0, resultsRejected: 0,
                heartbeats: 0, output: null, error: null, cause: null };
    tasks.set(token, t); byId.set(id, t);
    a.queue.push(t);
    ids.push(id);
  }
  pump(a);
  return { ids };
}

async function control(req, res, raw) {
  const body = raw ? JSON.parse(raw) : {};
  const url = req.url.split('?')[0];
  if (url === '/__peer/enqueue' && req.method === 'POST') return sendJson(res, 200, enqueue(body));
  if (url === '/__peer/fault' && req.method === 'POST') {
    faults.push({ kind: body.kind, count: body.count ?? 1, action: body.action, after: !!body.after });
    return sendJson(res, 200, { ok: true });
  }
  if (url === '/__peer/tasks')
    return sendJson(res, 200, [...byId.values()].map((t) => ({
      id: t.id, status: t.status, input: t.input, output: t.output, error: t.error, cause: t.cause,
      deliveries: t.deliveries, successAccepted: t.successAccepted, failureAccepted: t.failureAccepted,
      resultsRejected: t.resultsRejected, heartbeats: t.heartbeats, worker: t.worker })));
  if (url === '/__peer/stats') {
    const waiting = [...activities.values()].reduce((n, a) => n + a.waiters.length, 0);
    const queued = [...activities.values()].reduce((n, a) => n + a.queue.length, 0);
    return sendJson(res, 200, { ...stats, waitingPolls: waiting, queued });
  }
  return sendJson(res, 404, { message: 'unknown control endpoint' });
}

async function handle(req, res, raw) {
  if (req.url.startsWith('/__peer/')) return control(req, res, raw);
  const targetHdr = req.headers['x-amz-target'] || '';
  const action = targetHdr.startsWith('AWSStepFunctions.') ? targetHdr.slice(17) : '';
  const fault = takeFault(action);
  if (fault && !fault.after) return answerFault(req, res, fault);
  try {
    if (req.method !== 'POST' || req.url !== '/') throw new ApiError(404, 'UnknownOperationException', `${req.method} ${req.url}`);
    await checkSignature(req, raw);
    if (!ops[action] || !model.operations[action]) throw new ApiError(400, 'UnknownOperationException', `Unknown operation ${targetHdr}`);
    if (req.headers['content-type'] !== 'application/x-amz-json-1.0') throw new ApiError(400, 'SerializationException', 'Content-Type must be application/x-amz-json-1.0');
    let body;
    try { body = JSON.parse(raw || '{}'); } catch { throw new ApiError(400, 'SerializationException', 'Request body is not valid JSON'); }
    validateInput(action, body);
    const out = await ops[action](body, req, res);
    count(`${action}.ok`);
    if (fault) return answerFault(req, res, fault);
    sendJson(res, 200, out);
  } catch (e) {
    count(`${action || 'unknown'}.${e.type || 'error'}`);
    if (!(e instanceof ApiError) || !['TaskTimedOut'].includes(e.type))
      log({ ev: 'error', action, type: e.type, message: e.message });
    sendError(res, e);
  }
}

for (const n of opt.activities || []) ensureActivity(n);

const server = http.createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size <= 4 << 20) chunks.push(c); });
  req.on('end', () => {
    if (size > 4 << 20) return sendJson(res, 413, { __type: 'SerializationException', message: 'Request too large' });
    handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((e) => sendError(res, e));
  });
});
server.keepAliveTimeout = 75000;
server.headersTimeout = 80000;
server.requestTimeout = 0;
server.maxConnections = 5000;
server.listen(opt.port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
const stop = () => { server.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
