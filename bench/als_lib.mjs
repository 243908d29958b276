// Shared by the bench/*.mjs scripts: load aws-local-stepfunctions (ALS)
// and time one in-memory run of a definition.
//
// ALS 3.x declares Node >= 22 and calls Promise.withResolvers (Node 22); on
// older Node it is polyfilled here, before the module is loaded, so the
// benchmarks run on Node 20 too.
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

const here = dirname(fileURLToPath(import.meta.url));

/** Parse bench/<file> (a definition). */
export function loadDefinition(file) {
  return JSON.parse(readFileSync(join(here, file), 'utf8'));
}

/** Parse argv[i] as an integer (default `def`); exit 2 naming `who` when
 * it is not one. */
export function intArg(who, i, def) {
  const n = process.argv[i] === undefined ? def : Number(process.argv[i]);
  if (!Number.isInteger(n)) {
    console.error(`${who}: expected an integer argument, got '${process.argv[i]}'`);
    process.exit(2);
  }
  return n;
}

/**
 * Build a StateMachine for `definition` and run it once on `input`.
 * Returns { output, seconds, setupSeconds }: seconds is the run alone
 * (run() to the result); building the StateMachine (which validates the
 * definition) is setupSeconds. Node start-up and module loading are not
 * counted.
 */
export async function runTimed(definition, input, options = {}) {
  const t0 = process.hrtime.bigint();
  const machine = new StateMachine(definition, options);
  const t1 = process.hrtime.bigint();
  const output = await machine.run(input).result;
  const t2 = process.hrtime.bigint();
  return {
    output,
    seconds: Number(t2 - t1) / 1e9,
    setupSeconds: Number(t1 - t0) / 1e9,
  };
}

/** Print one JSON line: {engine:'aws-local-stepfunctions', ...fields,
 * seconds, <unit>_per_s, setup_seconds}. */
export function printRate(fields, unit, count, seconds, setupSeconds) {
  console.log(JSON.stringify({
    engine: 'aws-local-stepfunctions',
    ...fields,
    [unit]: count,
    seconds: Number(seconds.toFixed(6)),
    [`${unit}_per_s`]: Math.round(count / seconds),
    setup_seconds: Number(setupSeconds.toFixed(6)),
  }));
}
