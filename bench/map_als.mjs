#!/usr/bin/env node
// Run bench/map_c<C>.asl.json with aws-local-stepfunctions (in memory) on
// N items and print one JSON line:
//   {"engine":"aws-local-stepfunctions","max_concurrency":C,"items":N,
//    "seconds":S,"items_per_s":R,"setup_seconds":V}
// S is the run alone (bench/als_lib.mjs). The output is checked
// ({"n": N, "first": {"i": 0}}); a mismatch exits 1.
//
// Usage: node bench/map_als.mjs C [N]   (C = 0 or 40; default N = 10000)
import { intArg, loadDefinition, printRate, runTimed } from './als_lib.mjs';

const c = intArg('map_als', 2, 0);
const n = intArg('map_als', 3, 10000);
const definition = loadDefinition(`map_c${c}.asl.json`);
const items = Array.from({ length: n }, (_, i) => i);
const { output, seconds, setupSeconds } = await runTimed(definition,
  { batch: 'b1', items });

if (!output || output.n !== n || !output.first || output.first.i !== 0) {
  console.error(`map_als: expected {"n":${n},"first":{"i":0}}, got ${JSON.stringify(output)}`);
  process.exit(1);
}
printRate({ max_concurrency: c }, 'items', n, seconds, setupSeconds);
