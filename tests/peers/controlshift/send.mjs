// Send a ControlShift bulk-data webhook, signed as ControlShift signs it:
// header x-controlshift-webhook-signature: sha256:<hex HMAC-SHA256(secret,
// raw body)>. Prints the HTTP status of each POST (one per line) and exits
// 0 when every answer was 2xx, 1 otherwise.
//
//   node send.mjs --url U --secret S --type full|incremental|TYPE
//                 --table T --jid J [options]
//   --url U           webhook endpoint (e.g. http://127.0.0.1:8080/hooks/controlshift)
//   --secret S        webhook secret; without it the request is unsigned
//   --type T          full -> data.full_table_exported, incremental ->
//                     data.incremental_table_exported, anything else is sent
//                     as the type verbatim (e.g. data.something_else)
//   --table T         data.table (a table of tables.json)
//   --jid J           job id
//   --peer P          base URL of the ControlShift peer (server.mjs): data.url
//                     is a fresh presigned URL from P/__peer/url
//   --seq N           export number (default 1)
//   --rows N          rows in the export (default: gen.mjs's small sizes)
//   --compress C      bz2 (default), gz or none
//   --ttl S           URL lifetime in seconds (default 3600; < 0: expired)
//   --data-url URL    use this data.url instead of asking --peer
//   --s3              add data.s3 = {bucket, key} as newer deliveries do
//   --bad-signature   sign with a wrong secret
//   --repeat N        POST the same body N times (a redelivery)
//   --print           print the payload JSON instead of sending it
import crypto from 'node:crypto';

const a = process.argv.slice(2);
const arg = (k, d) => { const i = a.indexOf(k); return i >= 0 ? a[i + 1] : d; };
const flag = (k) => a.includes(k);
const type = arg('--type', 'full');
const fullType = type === 'full' ? 'data.full_table_exported'
  : type === 'incremental' ? 'data.incremental_table_exported' : type;
const kind = type === 'incremental' ? 'incremental' : 'full';
const table = arg('--table', 'members');
const jid = arg('--jid', crypto.randomBytes(12).toString('hex'));

let dataUrl = arg('--data-url', null);
if (!dataUrl) {
  const peer = arg('--peer', null);
  if (!peer) { console.error('send.mjs: --peer or --data-url is required'); process.exit(2); }
  const q = new URLSearchParams({ table, kind, seq: arg('--seq', '1'), compress: arg('--compress', 'bz2'), ttl: arg('--ttl', '3600') });
  if (arg('--rows', null)) q.set('rows', arg('--rows'));
  const r = await fetch(`${peer}/__peer/url?${q}`);
  if (!r.ok) { console.error(`send.mjs: peer: HTTP ${r.status}`); process.exit(2); }
  dataUrl = (await r.json()).url;
}
const data = { url: dataUrl, table };
if (flag('--s3')) {
  const u = new URL(dataUrl);
  data.s3 = { bucket: 'agra-data-exports-production', key: u.pathname.replace(/^\//, '') };
}
const body = JSON.stringify({ type: fullType, data, jid });
if (flag('--print')) { console.log(body); process.exit(0); }

const url = arg('--url', null);
if (!url) { console.error('send.mjs: --url is required (or --print)'); process.exit(2); }
const secret = arg('--secret', null);
const headers = { 'content-type': 'application/json' };
if (secret) {
  const key = flag('--bad-signature') ? secret + '-wrong' : secret;
  headers['x-controlshift-webhook-signature'] = 'sha256:' + crypto.createHmac('sha256', key).update(body).digest('hex');
}
let allOk = true;
for (let i = 0; i < Number(arg('--repeat', '1')); i++) {
  try {
    const r = await fetch(url, { method: 'POST', headers, body });
    await r.arrayBuffer();
    console.log(r.status);
    if (r.status < 200 || r.status > 299) allOk = false;
  } catch (e) {
    console.log(`error ${e.cause?.code || e.message}`);
    allOk = false;
  }
}
process.exit(allOk ? 0 : 1);
