// Notification receiver for tests/cli/test_file_ingest.sh: an HTTP server
// on 127.0.0.1 (free port) that appends every POSTed JSON body as one line
// to --out FILE and answers 204; POST /__peer/fail makes the next N
// notifications answer 503 (to exercise Retry). Prints "listening URL".
import http from 'node:http';
import fs from 'node:fs';

const args = process.argv.slice(2);
const out = args[args.indexOf('--out') + 1];
let failures = 0;

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'POST' && req.url === '/__peer/fail') {
      failures = Number(body) || 1;
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405).end();
      return;
    }
    if (failures > 0) {
      failures--;
      res.writeHead(503).end('try later');
      return;
    }
    let doc;
    try {
      doc = JSON.parse(body);
    } catch {
      res.writeHead(400).end('not JSON');
      return;
    }
    if (req.headers['content-type'] !== 'application/json') {
      res.writeHead(415).end('expected application/json');
      return;
    }
    fs.appendFileSync(out, JSON.stringify(doc) + '\n');
    res.writeHead(204).end();
  });
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
