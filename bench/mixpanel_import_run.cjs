// Runs npm `mixpanel-import` on an NDJSON file against a local sink and prints its CPU time as JSON.
//
//   node bench/mixpanel_import_run.cjs <sink-url> <file.ndjson> <project-id> <username> <secret> [runs]
//
// mixpanel-import has no API-host option: its default transport (undici) sends every event request through
// a Pool built at module load for https://api.mixpanel.com (components/importers.js). Before loading it, we
// swap undici's exported Pool for a subclass that builds the same pool for the sink's origin instead; the
// request path, query (strict=1, project_id), headers, gzip body and retries stay the library's own. The Job's
// `url` getter is pointed at the sink too, so the `got` transport would reach it as well.
// Each run imports the whole file; the first is a warm-up (JIT, connections), the others are measured with
// process.cpuUsage() around the import call (all threads, libuv's gzip workers included; startup excluded).
// One option beyond the defaults: a transformFunc doing the least Mixpanel requires of an event, as the naive
// forwarder does (bench/naive.py `ready`): a string `time` becomes a number, an event without `$insert_id`
// gets one from its line number. (The library's `fixData` would do more, and leaves numeric strings as they are.)
"use strict";

const path = require("path");

const [sinkUrl, file, project, acct, pass, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 2);
const here = path.join(__dirname, "node_modules", "mixpanel-import");
const undici = require(require.resolve("undici", { paths: [here] }));
const MIXPANEL_ORIGIN = /^https:\/\/api(-eu|-in)?\.mixpanel\.com\/?$/;
const RealPool = undici.Pool;

class SinkPool extends RealPool {
  constructor(origin, options) {
    super(MIXPANEL_ORIGIN.test(String(origin)) ? sinkUrl : origin, options);
  }
}
undici.Pool = SinkPool;

const Job = require(path.join(here, "components", "job.js"));
Object.defineProperty(Job.prototype, "url", {
  configurable: true,
  get() {
    return `${sinkUrl}/import`;
  },
});

const mpImport = require(here);

function ready() {
  let line = 0;
  return (record) => {
    const properties = record.properties;
    if (typeof properties.time === "string") {
      const number = Number(properties.time); // seconds or milliseconds, as Mixpanel reads a number
      properties.time = Number.isNaN(number) ? Date.parse(properties.time) : number; // else ISO-8601
    }
    if (!("$insert_id" in properties)) properties.$insert_id = `line-${line}`;
    line++;
    return record;
  };
}

async function main() {
  const results = [];
  for (let run = 0; run < runs; run++) {
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    // The library's defaults (undici, 50 workers, gzip level 6, strict, 2000 per request); no log files.
    const summary = await mpImport({ acct, pass, project }, file, {
      recordType: "event",
      verbose: false,
      showProgress: false,
      logs: false,
      transformFunc: ready(),
    });
    const cpu = process.cpuUsage(cpu0);
    const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
    results.push({
      warmup: run === 0,
      total: summary.total,
      success: summary.success,
      failed: summary.failed,
      requests: summary.requests,
      cpu_us: cpu.user + cpu.system,
      wall_us: wallUs,
    });
  }
  process.stdout.write(JSON.stringify({ version: require(path.join(here, "package.json")).version, results }) + "\n");
  process.exit(0); // the library's shared pools keep the event loop alive
}

main().catch((error) => {
  process.stderr.write(`mixpanel-import failed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
