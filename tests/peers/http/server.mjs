// SPDX-License-Identifier: MIT
// A tiny HTTP peer for src/http's streaming tests, on 127.0.0.1.
//   node tests/peers/http/server.mjs [--port N]
// Prints "listening http://127.0.0.1:PORT" as its first stdout line.
//   GET  /bytes?n=N&chunk=C  200, N bytes of the pattern byte(i) =
//                            (i * 7 + (i >> 11)) & 255, written C bytes
//                            at a time (default 65536), Content-Length N
//   GET  /status/CODE?n=N    that status with a JSON body padded to about
//                            N bytes: {"status": CODE, "pad": "xxx..."}
//   PUT  /upload             reads the body; answers 200 JSON {bytes,
//                            content_length (the header, or null),
//                            transfer_encoding, pattern_ok (the body is
//                            the /bytes pattern)}
import http from 'node:http';

const argv = process.argv.slice(2);
const port = argv[0] === '--port' ? Number(argv[1]) : 0;
const pat = (i) => (i * 7 + (i >> 11)) & 255;
function pattern(from, n) {
  const b = Buffer.allocUnsafe(n);
  for (let k = 0; k < n; k++) b[k] = pat(from + k);
  return b;
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'GET' && url.pathname === '/bytes') {
    const n = Number(url.searchParams.get('n') || 0);
    const chunk = Number(url.searchParams.get('chunk') || 65536);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(n) });
    let off = 0;
    const more = () => {
      while (off < n) {
        const k = Math.min(chunk, n - off);
        const ok = res.write(pattern(off, k));
        off += k;
        if (!ok) return res.once('drain', more);
      }
      res.end();
    };
    return more();
  }
  let m = url.pathname.match(/^\/status\/(\d{3})$/);
  if (req.method === 'GET' && m) {
    const n = Number(url.searchParams.get('n') || 0);
    const body = JSON.stringify({ status: Number(m[1]), pad: 'x'.repeat(n) });
    res.writeHead(Number(m[1]), { 'Content-Type': 'application/json' });
    return res.end(body);
  }
  if (req.method === 'PUT' && url.pathname === '/upload') {
    let bytes = 0, ok = true;
    req.on('data', (c) => {
      for (let k = 0; k < c.length && ok; k++) if (c[k] !== pat(bytes + k)) ok = false;
      bytes += c.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ bytes, content_length: req.headers['content-length'] ?? null,
        transfer_encoding: req.headers['transfer-encoding'] ?? null, pattern_ok: ok }));
    });
    return;
  }
  res.writeHead(404, { 'Content-Type': 'application/json' });
  res.end('{"error":"not found"}');
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
