// Turns the JSON reports of a run ($E2E_REPORT_DIR/*.json) into the markdown
// tables of docs/e2e.md: one table a client, a row a step, a column a server,
// then every deviation and failure with its detail.
//   node report.mjs DIR > table.md      exit 1 when a step failed or DIR is empty
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? process.env.E2E_REPORT_DIR;
const ORDER = ['as-check', 'ts-sdk', 'rmcp', 'rotation', 'conformance'];
const files = readdirSync(dir).filter((file) => file.endsWith('.json'));
const entries = files.flatMap((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')));
if (entries.length === 0) {
  console.error(`no reports in ${dir}`);
  process.exit(1);
}

const MARK = { PASS: 'pass', FAIL: '**FAIL**', DEVIATION: 'pass, peer deviates', 'EXPECTED-FAIL': 'denied, as expected' };
const byNumber = (a, b) => a.localeCompare(b, 'en', { numeric: true });
const clients = [...new Set(entries.map((entry) => entry.client))].sort(
  (a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b),
);

const out = [];
for (const client of clients) {
  const mine = entries.filter((entry) => entry.client === client);
  const servers = [...new Set(mine.map((entry) => entry.server))];
  const steps = [...new Set(mine.map((entry) => entry.step))].sort(byNumber);
  out.push(`### ${client}`, '', `| step | ${servers.join(' | ')} |`, `|---|${servers.map(() => '---').join('|')}|`);
  for (const step of steps) {
    const cells = servers.map((server) => {
      const results = mine.filter((entry) => entry.server === server && entry.step === step).map((entry) => MARK[entry.result] ?? entry.result);
      return results.length ? [...new Set(results)].join(', ') : '';
    });
    const named = mine.find((entry) => entry.step === step);
    const what = named?.what ?? named?.detail ?? '';
    out.push(`| ${step}${what && client !== 'conformance' ? ` ${what.replaceAll('|', '\\|')}` : ''} | ${cells.join(' | ')} |`);
  }
  const notes = mine.filter((entry) => entry.result !== 'PASS');
  if (notes.length) {
    out.push('');
    for (const note of notes) out.push(`- ${note.step} ${note.server}, ${note.result}: ${note.detail.replaceAll('\n', ' ')}`);
  }
  out.push('');
}
console.log(out.join('\n'));
process.exitCode = entries.some((entry) => entry.result === 'FAIL') ? 1 : 0;
