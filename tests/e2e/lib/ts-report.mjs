// The contract's report: one `STEP <client> <server> <n>.<sub> RESULT text`
// line per step on stdout, and `$E2E_REPORT_DIR/<client>.json` at the end.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class Failure extends Error {}

/** Throws a step's failure when `condition` is false. */
export function check(condition, message) {
  if (!condition) throw new Failure(message);
}

export class Report {
  constructor(client) {
    this.client = client;
    this.rows = [];
  }

  // `what` names the step (a row of docs/e2e.md's table); `detail` says what was seen.
  add(server, step, result, detail, what = detail) {
    const text = String(detail).replace(/\s+/g, ' ').trim();
    this.rows.push({ client: this.client, server, step, result, what, detail: text });
    console.log(`STEP ${this.client} ${server} ${step} ${result} ${text}`);
  }

  /**
   * Runs one step: `body(note)` returns the PASS text, or throws (FAIL). A
   * `note.deviation(text)` makes the step a DEVIATION: the peer deviated in a
   * known way and our side was still asserted.
   */
  async step(server, step, what, body) {
    const deviations = [];
    const note = { deviation: (text) => deviations.push(text) };
    try {
      const detail = await body(note);
      if (deviations.length) this.add(server, step, 'DEVIATION', `${deviations.join('; ')}. Asserted: ${detail}`, what);
      else this.add(server, step, 'PASS', detail, what);
      return true;
    } catch (error) {
      const text = error instanceof Failure ? error.message : `${error?.stack ?? error}`;
      this.add(server, step, 'FAIL', `${what}: ${text}`, what);
      return false;
    }
  }

  get failed() {
    return this.rows.some((row) => row.result === 'FAIL');
  }

  /** `servers`: the order of the servers in the file (the table's columns). */
  write(dir, servers = []) {
    if (!dir) return undefined;
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${this.client}.json`);
    const byNumber = (a, b) => a.localeCompare(b, 'en', { numeric: true });
    const rank = (server) => (servers.indexOf(server) + 1 || servers.length + 1);
    const rows = [...this.rows].sort((a, b) => rank(a.server) - rank(b.server) || byNumber(a.step, b.step));
    writeFileSync(path, `${JSON.stringify(rows, null, 2)}\n`);
    return path;
  }
}
