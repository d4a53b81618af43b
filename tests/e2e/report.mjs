// Turns the JSON reports of a run ($E2E_REPORT_DIR/*.json) into the markdown
// tables of docs/e2e.md: one table a client, a row a step, a column a server,
// then every deviation and failure with its detail.
//   node report.mjs DIR > table.md      exit 1 when a step failed or DIR is empty
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? process.env.E2E_REPORT_DIR;
const ORDER = ['as-check', 'ts-sdk', 'rmcp', 'rotation', 'conformance'];
const SERVER_ORDER = ['oidc-provider', 'direct', 'example', 'proxy-stdio', 'proxy-http', 'proxy-stdio-read', 'proxy-http-read'];
const rank = (list, item) => (list.indexOf(item) + 1 || 99);
const files = readdirSync(dir).filter((file) => file.endsWith('.json'));
const entries = files.flatMap((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')));
if (entries.length === 0) {
  console.error(`no reports in ${dir}`);
  process.exit(1);
}

const MARK = { PASS: 'pass', FAIL: '**FAIL**', DEVIATION: 'pass, peer deviates', 'EXPECTED-FAIL': 'denied, as expected' };
// For the conformance suite, DEVIATION means the scenario does not test the
// everything server (it lacks the suite's fixtures, or passes vacuously, or
// fails directly): conformance-expected.json says which and why.
const mark = (client, result) =>
  client === 'conformance' && result === 'DEVIATION' ? 'not judged' : (MARK[result] ?? result);
const byNumber = (a, b) => a.localeCompare(b, 'en', { numeric: true });
const clients = [...new Set(entries.map((entry) => entry.client))].sort(
  (a, b) => rank(ORDER, a) - rank(ORDER, b) || a.localeCompare(b),
);

const out = [];
for (const client of clients) {
  const mine = entries.filter((entry) => entry.client === client);
  const servers = [...new Set(mine.map((entry) => entry.server))].sort(
    (a, b) => rank(SERVER_ORDER, a) - rank(SERVER_ORDER, b) || a.localeCompare(b),
  );
  const steps = [...new Set(mine.map((entry) => entry.step))].sort(byNumber);
  out.push(`### ${client}`, '', `| step | ${servers.join(' | ')} |`, `|---|${servers.map(() => '---').join('|')}|`);
  for (const step of steps) {
    const cells = servers.map((server) => {
      const results = mine.filter((entry) => entry.server === server && entry.step === step).map((entry) => mark(client, entry.result));
      return results.length ? [...new Set(results)].join(', ') : '';
    });
    const named = mine.find((entry) => entry.step === step);
    const what = named?.what ?? named?.detail ?? '';
    out.push(`| ${step}${what && client !== 'conformance' ? ` ${what.replaceAll('|', '\\|')}` : ''} | ${cells.join(' | ')} |`);
  }
  // A step's notes once, with the servers it showed on (the details of
  // one server stand for the others').
  const notes = new Map();
  // (The conformance scenarios that fail directly too are explained once,
  // in conformance-expected.json, not once a scenario.)
  const noted = (e) => e.result !== 'PASS' && !(client === 'conformance' && e.result === 'DEVIATION');
  for (const entry of mine.filter(noted)) {
    const key = `${entry.step} ${entry.result}`;
    if (!notes.has(key)) notes.set(key, { ...entry, servers: [] });
    notes.get(key).servers.push(entry.server);
  }
  if (notes.size) {
    out.push('');
    for (const note of [...notes.values()].sort((a, b) => byNumber(a.step, b.step))) {
      const where = note.servers.sort((a, b) => rank(SERVER_ORDER, a) - rank(SERVER_ORDER, b)).join(', ');
      out.push(`- ${note.step} (${where}), ${mark(client, note.result)}: ${note.detail.replaceAll('\n', ' ')}`);
    }
  }
  out.push('');
}
console.log(out.join('\n'));
process.exitCode = entries.some((entry) => entry.result === 'FAIL') ? 1 : 0;
