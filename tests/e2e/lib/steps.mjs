// One way for the suite's Node parts to report a step: a `STEP` line on
// stdout (what run.sh shows) and an entry of $E2E_REPORT_DIR/<client>.json
// (what report.mjs turns into the table of docs/e2e.md).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class Steps {
  constructor(client) {
    this.client = client;
    this.entries = [];
  }

  // `what` names the step (the table's row); `detail` says what was seen.
  record(server, step, result, detail, what = detail) {
    this.entries.push({ client: this.client, server, step, result, what, detail });
    console.log(`STEP ${this.client} ${server} ${step} ${result} ${detail}`);
  }

  pass(server, step, detail, what) {
    this.record(server, step, 'PASS', detail, what);
  }

  fail(server, step, detail, what) {
    this.record(server, step, 'FAIL', detail, what);
  }

  // Runs `body`; a throw is that step's FAIL, with the error's message.
  async check(server, step, what, body) {
    try {
      const detail = await body();
      this.pass(server, step, detail ?? what, what);
      return true;
    } catch (error) {
      this.fail(server, step, `${what}: ${error?.message ?? error}`, what);
      return false;
    }
  }

  get failed() {
    return this.entries.some((entry) => entry.result === 'FAIL');
  }

  // Writes the report and sets the exit code: 1 when a step failed.
  finish() {
    const dir = process.env.E2E_REPORT_DIR;
    if (dir) writeFileSync(join(dir, `${this.client}.json`), `${JSON.stringify(this.entries, null, 2)}\n`);
    process.exitCode = this.failed ? 1 : 0;
  }
}

export function expect(condition, message) {
  if (!condition) throw new Error(message);
}
