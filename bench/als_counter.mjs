#!/usr/bin/env node
// Run bench/counter_loop.asl.json with aws-local-stepfunctions (in memory, no
// Task, Wait or Retry involved) for N iterations and print one JSON line:
//   {"engine":"aws-local-stepfunctions","n":N,"transitions":T,"seconds":S,
//    "transitions_per_s":R,"setup_seconds":V}
// T = 2*max(N,1) + 2 states entered (init, N x increment + loop_while_below_n,
// done; see the definition's Comment). S is the run alone (run() to the
// result); building the StateMachine (which validates the definition, about
// 0.8 s) is reported separately as setup_seconds, and Node start-up and module
// loading are not counted (bench/als_lib.mjs). The output is checked
// ({"i": max(N,1)}); a mismatch exits 1.
//
// Usage: node bench/als_counter.mjs [N]   (default 20000)
import { intArg, loadDefinition, printRate, runTimed } from './als_lib.mjs';

const n = intArg('als_counter', 2, 20000);
const definition = loadDefinition('counter_loop.asl.json');
const { output, seconds, setupSeconds } = await runTimed(definition, { n });

const expected = Math.max(n, 1);
if (!output || output.i !== expected) {
  console.error(`als_counter: expected output i = ${expected}, got ${JSON.stringify(output)}`);
  process.exit(1);
}
printRate({ n }, 'transitions', 2 * expected + 2, seconds, setupSeconds);
