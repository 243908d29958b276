#!/usr/bin/env node
// Run bench/counter_loop.asl.json with aws-local-stepfunctions (in memory, no
// Task, Wait or Retry involved) for N iterations and print one JSON line:
//   {"engine":"aws-local-stepfunctions","n":N,"transitions":T,"seconds":S,
//    "transitions_per_s":R,"setup_seconds":V}
// T = 2*max(N,1) + 2 states entered (init, N x increment + loop_while_below_n,
// done; see the definition's Comment). S is the run alone (run() to the
// result); building the StateMachine (which validates the definition, about
// 0.8 s) is reported separately as setup_seconds, and Node start-up and module
// loading are not counted. The output is checked ({"i": max(N,1)}); a
// mismatch exits 1.
//
// Usage: node bench/als_counter.mjs [N]   (default 20000)
//
// aws-local-stepfunctions 3.x declares Node >= 22 and calls
// Promise.withResolvers (Node 22); on older Node it is polyfilled here, before
// the module is loaded, so the benchmark runs on Node 20 too.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
const { StateMachine } = await import('aws-local-stepfunctions');

const n = process.argv[2] === undefined ? 20000 : Number(process.argv[2]);
if (!Number.isInteger(n)) {
  console.error(`als_counter: N must be an integer, got '${process.argv[2]}'`);
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const definition = JSON.parse(readFileSync(join(here, 'counter_loop.asl.json'), 'utf8'));

const t0 = process.hrtime.bigint();
const machine = new StateMachine(definition);
const t1 = process.hrtime.bigint();
const execution = machine.run({ n });
const output = await execution.result;
const t2 = process.hrtime.bigint();
const setupSeconds = Number(t1 - t0) / 1e9;
const seconds = Number(t2 - t1) / 1e9;

const expected = Math.max(n, 1);
if (!output || output.i !== expected) {
  console.error(`als_counter: expected output i = ${expected}, got ${JSON.stringify(output)}`);
  process.exit(1);
}
const transitions = 2 * expected + 2;
console.log(JSON.stringify({
  engine: 'aws-local-stepfunctions',
  n,
  transitions,
  seconds: Number(seconds.toFixed(6)),
  transitions_per_s: Math.round(transitions / seconds),
  setup_seconds: Number(setupSeconds.toFixed(6)),
}));
