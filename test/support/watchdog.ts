// vitest's testTimeout is a timer on the test's own thread: a test stuck in a synchronous loop never lets
// it fire, and the run stalls. This watchdog thread expects a heartbeat from the test thread every 250 ms;
// after SERFLOW_TEST_BLOCKED_MS without one it names the test, then kills the test process, so vitest
// fails the file ("Worker exited unexpectedly") instead of waiting for ever.
import { Worker } from "node:worker_threads";
import { afterAll, beforeEach } from "vitest";

const limitMs = Number(process.env.SERFLOW_TEST_BLOCKED_MS ?? 60_000);
const watchdog = new Worker(
  `const { parentPort } = require("node:worker_threads");
   const { writeSync } = require("node:fs");
   let last = Date.now(), test = "(outside a test)";
   parentPort.on("message", (m) => { last = Date.now(); if (m !== null) test = m; });
   setInterval(() => {
     if (Date.now() - last < ${limitMs}) return;
     writeSync(2, "\\nwatchdog: " + test + " blocked its thread for more than ${limitMs} ms (a loop?): killing the test process\\n");
     process.kill(process.pid, "SIGKILL");
   }, 250);`,
  { eval: true },
);
watchdog.unref();
const beat = setInterval(() => watchdog.postMessage(null), 250);
beat.unref();

beforeEach(({ task }) => {
  watchdog.postMessage(`test "${task.file?.name ?? ""} > ${task.name}"`);
});
afterAll(async () => {
  clearInterval(beat);
  await watchdog.terminate();
});
