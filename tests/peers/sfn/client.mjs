// SPDX-License-Identifier: MIT
// A signed Step Functions client for the tests: sends one operation to the
// peer the way the AWS SDK does (AWS JSON 1.0, SigV4 "states" by
// @smithy/signature-v4) and prints the HTTP status and body.
//
//   node tests/peers/sfn/client.mjs URL OPERATION JSON [REGION]
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

const [url, op, json, region = 'us-east-1'] = process.argv.slice(2);
const u = new URL(url);
const body = json || '{}';
const signer = new SignatureV4({
  credentials: { accessKeyId: process.env.SFN_ACCESS_KEY_ID || 'AKIDSTEPWISETEST',
                 secretAccessKey: process.env.SFN_SECRET_ACCESS_KEY || 'stepwise-test-secret' },
  region, service: 'states', sha256: Sha256, applyChecksum: false, uriEscapePath: true,
});
const req = await signer.sign({
  method: 'POST', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/', query: {},
  headers: { host: u.host, 'content-type': 'application/x-amz-json-1.0',
             'x-amz-target': `AWSStepFunctions.${op}` },
  body,
});
const res = await fetch(url, { method: 'POST', headers: req.headers, body });
process.stdout.write(`${res.status} ${await res.text()}\n`);
