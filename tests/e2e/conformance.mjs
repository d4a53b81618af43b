// The official MCP conformance suite (@modelcontextprotocol/conformance,
// pinned in package.json), server mode, through `mcp-policy proxy`
// (issue #10, docs/e2e.md "The conformance suite, through the proxy").
//
// Five runs of every server scenario of the suite (`--suite all`), and of
// their twins on the everything server's own names (conformance-mapped.mjs,
// steps `mapped/...`: the suite's fixtures are not the everything server's),
// in parallel (each run is one suite process, its scenarios one after another):
//   direct            the unguarded everything server (E2E_EVERYTHING_DIRECT):
//                     the baseline;
//   proxy-stdio       E2E_SERVER_PROXY_STDIO with a token that allows
//   proxy-http        E2E_SERVER_PROXY_HTTP  everything (client machine-all);
//   proxy-stdio-read  the same two proxies with a token that allows read
//   proxy-http-read   tools only (client machine, scope mcp:read).
// It passes when every scenario that passes directly passes through both
// proxies with the full token (but the two whose direct pass is vacuous and
// which the policy refuses, listed), when the read-only runs fail exactly the
// scenarios listed in conformance-expected.json, each with our step-up
// denial, when tools/list shows exactly what each token allows, and when one
// write call of our own is allowed with the full token and denied without.
//
// The suite's client sends no token. A small forwarder (below) in front of
// each proxy adds one. It is not a proxy option that trusts a fixed token on
// purpose: the shipped binary has no switch that turns authentication off or
// trusts a token it did not validate, and a test must not be the reason to
// add one. The forwarder keeps everything else as the client sent it (Host,
// Origin: the DNS-rebinding scenario tests the proxy, not the forwarder), and
// streams bodies both ways as they come (SSE is never buffered).
//
// Reports: a `STEP conformance <run> <scenario> PASS|FAIL|EXPECTED-FAIL|DEVIATION
// <detail>` line per scenario and run, and $E2E_REPORT_DIR/conformance.json.
// DEVIATION: the scenario fails against the unguarded everything server too
// (it lacks the suite's fixtures: conformance-expected.json), so the proxy is
// not judged on it (a read-only run must still fail the same checks as the
// full one). Exit 1 on any FAIL.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { runMapped } from './conformance-mapped.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SUITE = join(HERE, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
const EXPECTED = JSON.parse(readFileSync(join(HERE, 'conformance-expected.json'), 'utf8'));
// A token with less than this left is replaced before it is sent (TTL 20 s).
const MIN_TOKEN_LIFE_MS = 5_000;
// One suite run takes a few seconds; this bounds a hang (CI budget).
const RUN_TIMEOUT_MS = 90_000;

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: start the stack with tests/e2e/run.sh --up FILE and source FILE`);
  return value;
}

const FULL = { client: 'machine-all', secret: 'machine-all-secret', scope: 'mcp:read mcp:write mcp:admin' };
const READ = { client: 'machine', secret: 'machine-secret', scope: 'mcp:read' };
const RUNS = [
  { name: 'direct', url: env('E2E_EVERYTHING_DIRECT') },
  { name: 'proxy-stdio', url: env('E2E_SERVER_PROXY_STDIO'), grant: FULL },
  { name: 'proxy-http', url: env('E2E_SERVER_PROXY_HTTP'), grant: FULL },
  { name: 'proxy-stdio-read', url: env('E2E_SERVER_PROXY_STDIO'), grant: READ },
  { name: 'proxy-http-read', url: env('E2E_SERVER_PROXY_HTTP'), grant: READ },
];

// ---- tokens: client_credentials at the test's authorization server ----

let tokenEndpoint;
async function fetchToken(grant, resource) {
  tokenEndpoint ??= (async () => {
    const response = await fetch(`${env('E2E_AS')}/.well-known/openid-configuration`);
    if (!response.ok) throw new Error(`AS metadata: ${response.status}`);
    return (await response.json()).token_endpoint;
  })();
  const response = await fetch(await tokenEndpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${grant.client}:${grant.secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: grant.scope, resource }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    throw new Error(`token for ${grant.client} at ${resource}: ${response.status} ${JSON.stringify(body)}`);
  }
  if (body.scope !== grant.scope) throw new Error(`token for ${grant.client}: scope "${body.scope}", asked "${grant.scope}"`);
  return { token: body.access_token, expires: Date.now() + body.expires_in * 1000 };
}

// One token source a run: concurrent requests share one grant in flight.
function tokenSource(grant, resource) {
  let current;
  let pending;
  let grants = 0;
  const get = async () => {
    if (current && current.expires - Date.now() >= MIN_TOKEN_LIFE_MS) return current.token;
    pending ??= fetchToken(grant, resource).then(
      (fresh) => {
        grants += 1;
        current = fresh;
        pending = undefined;
        return fresh;
      },
      (error) => {
        pending = undefined;
        throw error;
      },
    );
    return (await pending).token;
  };
  return { get, grants: () => grants };
}

// ---- the forwarder ----

// Listens on 127.0.0.1 and sends every request on to `target` (the proxy's
// URL) as it came (method, path, every header, Host and Origin included),
// with `Authorization: Bearer <token>` set; the answer comes back as it
// came, status, headers and body streamed chunk by chunk.
// `oneAtATime`: a new session ends the ones before it. For the suite's
// client only, which runs its scenarios one after another, each with one
// session, and leaves the session of a scenario that fails open (it closes
// its client on success only): over stdio, each is a child of some 65 MB.
async function forwarder(target, tokens, { oneAtATime = false } = {}) {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  // Every session the proxy issued through this forwarder and not ended yet.
  // The suite's client never ends a session (no DELETE), so each of its ~33
  // scenarios would hold one (over stdio, a child) until the idle timeout
  // (300 s), and a second run on the same stack would meet the per-principal
  // limit (64). A session is ended when its client cancels its GET stream
  // (the SDK client's close(); a stream the server ends is not that), when
  // the next one begins (`oneAtATime`), and at close().
  const sessions = new Set();
  const ending = []; // the DELETEs' statuses, to come
  const end = (session) => {
    sessions.delete(session);
    const status = (async () => {
      const answer = await fetch(target, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${await tokens.get()}`, 'mcp-session-id': session },
      }).catch((error) => ({ status: error.message }));
      return answer.status;
    })();
    ending.push(status);
    return status;
  };
  const server = http.createServer(async (request, response) => {
    let token;
    try {
      token = await tokens.get();
    } catch (error) {
      response.writeHead(502, { 'content-type': 'text/plain' }).end(`forwarder: ${error.message}\n`);
      return;
    }
    // rawHeaders keeps repeated headers (two Origins stay two Origins).
    const headers = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      if (request.rawHeaders[i].toLowerCase() !== 'authorization') headers.push(request.rawHeaders[i], request.rawHeaders[i + 1]);
    }
    headers.push('Authorization', `Bearer ${token}`);
    const outgoing = http.request({
      agent,
      host: upstream.hostname,
      port: upstream.port,
      method: request.method,
      path: request.url,
      headers,
      setHost: false,
    });
    outgoing.on('response', (answer) => {
      const session = answer.headers['mcp-session-id'] ?? request.headers['mcp-session-id'];
      if (request.method === 'DELETE' && answer.statusCode < 300) sessions.delete(session);
      else if (answer.headers['mcp-session-id'] && !request.headers['mcp-session-id']) {
        // A new session (the answer to an initialize).
        if (oneAtATime) [...sessions].forEach(end);
        sessions.add(session);
      }
      response.writeHead(answer.statusCode, answer.statusMessage, answer.rawHeaders);
      response.flushHeaders();
      answer.pipe(response);
      answer.on('error', () => response.destroy());
    });
    outgoing.on('error', (error) => {
      if (response.headersSent) response.destroy();
      else response.writeHead(502, { 'content-type': 'text/plain' }).end(`forwarder: ${error.message}\n`);
    });
    // The client went away (a stream it cancelled): so does the upstream request.
    response.on('close', () => {
      if (response.writableFinished) return;
      outgoing.destroy();
      const session = request.headers['mcp-session-id'];
      if (request.method === 'GET' && sessions.has(session)) end(session);
    });
    request.pipe(outgoing);
  });
  server.keepAliveTimeout = 1_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    sessions,
    close: async () => {
      server.closeAllConnections();
      server.close();
      [...sessions].forEach(end);
      const statuses = await Promise.all(ending);
      agent.destroy();
      return statuses;
    },
  };
}

// ---- one suite run ----

function runSuite(run, url, outDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', join(HERE, 'conformance-node20.mjs'), SUITE, 'server', '--url', url, '--suite', 'all', '-o', outDir],
      { cwd: outDir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`${run.name}: the suite was killed (${signal}) after ${RUN_TIMEOUT_MS} ms:\n${output}`));
      else resolve({ code, output });
    });
  });
}

// The suite writes <out>/server-<scenario>-<ISO time>/checks.json a scenario.
function readResults(outDir) {
  const results = new Map();
  for (const entry of readdirSync(outDir)) {
    const match = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(entry);
    if (!match) continue;
    results.set(match[1], summarise(JSON.parse(readFileSync(join(outDir, entry, 'checks.json'), 'utf8'))));
  }
  return results;
}

// A scenario passes when none of its checks is a FAILURE (as the suite
// counts); warnings are shown.
function summarise(checks) {
  const said = (check) => `${check.id}: ${check.errorMessage ?? check.description}`;
  const failures = checks.filter((check) => check.status === 'FAILURE');
  return {
    pass: failures.length === 0,
    checks,
    failures: failures.map(said),
    warnings: checks.filter((check) => check.status === 'WARNING').map(said),
  };
}

async function execute(run, root) {
  const outDir = join(root, run.name);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  let front;
  let ours;
  let tokens;
  if (run.grant) {
    tokens = tokenSource(run.grant, run.url);
    await tokens.get(); // fails the run early when the grant is refused
    // The suite's client, and ours (mapped scenarios, token check) beside it.
    front = await forwarder(run.url, tokens, { oneAtATime: true });
    ours = await forwarder(run.url, tokens);
  }
  const started = Date.now();
  try {
    const [{ code, output }, mapped] = await Promise.all([
      runSuite(run, front?.url ?? run.url, outDir),
      runMapped(ours?.url ?? run.url),
    ]);
    const results = readResults(outDir);
    if (results.size === 0) throw new Error(`${run.name}: the suite wrote no results (exit ${code}):\n${output}`);
    for (const [step, checks] of mapped) results.set(step, summarise(checks));
    const ms = Date.now() - started;
    const checked = ours ? await tokenCheck(run, ours.url) : undefined;
    const ended = front ? await front.close() : [];
    await ours?.close();
    front = undefined;
    ours = undefined;
    return { ...run, results, ms, grants: tokens?.grants() ?? 0, tokenCheck: checked, ended };
  } finally {
    await front?.close();
    await ours?.close();
  }
}

// ---- the token check: is each run's token what it claims? ----

// The suite never calls a tool that the everything server has and the
// read-only token lacks (see conformance-expected.json), so each proxied run
// also makes one write call of its own through its forwarder: it must succeed
// with the full token and be denied, with our step-up denial, with mcp:read.
const KIND = JSON.parse(readFileSync(process.env.E2E_SERVERS_JSON ?? join(HERE, 'servers.json'), 'utf8')).kinds.everything;

async function tokenCheck(run, url) {
  const client = new Client({ name: 'mcp-policy-e2e-conformance', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    const result = await client.callTool(KIND.write_call);
    return { allowed: result.isError !== true, detail: JSON.stringify(result.content ?? result).slice(0, 200) };
  } catch (error) {
    return { allowed: false, detail: error.message };
  } finally {
    await client.close().catch(() => {});
  }
}

// ---- judging ----

const STEP_UP = new RegExp(EXPECTED.denials.step_up);
const UNKNOWN = new RegExp(EXPECTED.denials.unknown);
const byScenario = (list) => new Map(list.map((entry) => [entry.scenario, entry]));
const EVERY_SCOPE = byScenario(EXPECTED.denied_with_every_scope);
const READ_ONLY = byScenario(EXPECTED.denied_with_read_only);
const PROXY_ONLY = byScenario(EXPECTED.pass_through_the_proxy_only);

const entries = [];
function record(server, step, result, detail) {
  detail = detail.replaceAll('\n', ' ');
  entries.push({ client: 'conformance', server, step, result, what: step, detail });
  console.log(`STEP conformance ${server} ${step} ${result} ${detail}`);
}

function brief(result) {
  const parts = [...result.failures, ...result.warnings.map((warning) => `warning ${warning}`)];
  return parts.length ? parts.join('; ').slice(0, 500) : `${result.checks.length} check(s) passed`;
}

const failedIds = (result) => result.checks.filter((check) => check.status === 'FAILURE').map((check) => check.id).sort().join(',');
const every = (result, pattern) => result.failures.length > 0 && result.failures.every((failure) => pattern.test(failure));

// A scenario that passes against the unguarded server only because the
// suite's check accepts the server's "Tool X not found" error result.
function vacuousPass(result, fixture) {
  const check = result.checks.find((c) => c.status === 'SUCCESS');
  const text = check?.details?.result?.content?.[0]?.text ?? '';
  return check?.details?.result?.isError === true && text.includes(`Tool ${fixture} not found`);
}

function judgeDirect(scenario, base) {
  const vacuous = EVERY_SCOPE.get(scenario);
  if (vacuous) {
    if (base.pass && vacuousPass(base, vacuous.fixture)) {
      record('direct', scenario, 'DEVIATION', `passes only because the check accepts the server's error result "Tool ${vacuous.fixture} not found"`);
    } else {
      record('direct', scenario, 'FAIL', `listed as a vacuous pass in conformance-expected.json, but the server now answers otherwise: ${brief(base)}`);
    }
  } else if (base.pass) {
    record('direct', scenario, 'PASS', brief(base));
  } else {
    record('direct', scenario, 'DEVIATION', `the unguarded everything server fails it: ${brief(base)}`);
  }
}

// `allowed`: the tool names this run's scopes allow (servers.json).
function judgeToolsList(run, scenario, mine, directTools, allowed) {
  const listed = mine.checks[0]?.details?.tools ?? [];
  const want = directTools.filter((name) => allowed.includes(name));
  const same = listed.length === want.length && want.every((name) => listed.includes(name));
  if (same) record(run.name, scenario, 'PASS', `${brief(mine)}; lists exactly what the scopes allow of the server's tools: ${listed.join(' ')}`);
  else record(run.name, scenario, 'FAIL', `lists ${listed.join(' ')}; the scopes allow ${want.join(' ')}`);
}

function judgeProxied(run, full, scenario, base, mine) {
  const readOnly = run.grant === READ;
  if (!mine) return record(run.name, scenario, 'FAIL', 'the suite did not run it');
  if (EVERY_SCOPE.has(scenario)) {
    const { fixture } = EVERY_SCOPE.get(scenario);
    if (!mine.pass && every(mine, UNKNOWN) && mine.failures.every((f) => f.includes(fixture))) {
      return record(run.name, scenario, 'EXPECTED-FAIL', `denied by the policy (default deny: ${fixture} is not in it), answered as unknown: ${brief(mine)}`);
    }
    return record(run.name, scenario, 'FAIL', `expected the policy's "Unknown tool: ${fixture}", got: ${brief(mine)}`);
  }
  if (PROXY_ONLY.has(scenario)) {
    if (mine.pass) return record(run.name, scenario, 'PASS', `${brief(mine)} (the unguarded server fails it: ${brief(base)})`);
    return record(run.name, scenario, 'FAIL', `must pass through the proxy: ${brief(mine)}`);
  }
  if (!base.pass) {
    // The baseline fails: the proxy is not judged on it, only shown; but a
    // read-only run fails the same checks as the full one, or it is ours.
    if (readOnly && full && !full.results.get(scenario)?.pass && failedIds(full.results.get(scenario)) !== failedIds(mine)) {
      return record(run.name, scenario, 'FAIL', `fails other checks than with every scope: ${brief(mine)}`);
    }
    return record(run.name, scenario, 'DEVIATION', `fails directly too; here: ${brief(mine)}`);
  }
  if (readOnly && READ_ONLY.has(scenario)) {
    if (mine.pass) return record(run.name, scenario, 'FAIL', 'listed as denied with mcp:read only, but it passed: update conformance-expected.json');
    if (every(mine, STEP_UP)) return record(run.name, scenario, 'EXPECTED-FAIL', `denied by the policy: ${brief(mine)}`);
    return record(run.name, scenario, 'FAIL', `expected our step-up denial, got: ${brief(mine)}`);
  }
  if (!mine.pass) return record(run.name, scenario, 'FAIL', `passes directly, fails here: ${brief(mine)}`);
  if (scenario === 'tools-list') {
    const directTools = base.checks[0]?.details?.tools ?? [];
    return judgeToolsList(run, scenario, mine, directTools, KIND.allowed[readOnly ? 'mcp:read' : 'mcp:admin']);
  }
  record(run.name, scenario, 'PASS', brief(mine));
}

function judgeTokenCheck(run) {
  const { allowed, detail } = run.tokenCheck;
  const call = `${KIND.write_call.name} (needs mcp:write)`;
  if (run.grant === READ) {
    if (!allowed && STEP_UP.test(detail)) record(run.name, 'token-check', 'PASS', `${call} denied with our step-up denial: ${detail.slice(0, 200)}`);
    else record(run.name, 'token-check', 'FAIL', `${call} with mcp:read only: expected our step-up denial, got ${allowed ? 'success' : detail}`);
  } else if (allowed) {
    record(run.name, 'token-check', 'PASS', `${call} allowed: ${detail}`);
  } else {
    record(run.name, 'token-check', 'FAIL', `${call} with every scope: ${detail}`);
  }
}

async function main() {
  const begin = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'mcp-policy-conformance-'));
  const done = await Promise.all(RUNS.map((run) => execute(run, root)));
  const [direct, ...proxied] = done;
  const scenarios = [...direct.results.keys()].sort();

  for (const scenario of scenarios) judgeDirect(scenario, direct.results.get(scenario));
  for (const run of proxied) {
    const full = run.grant === READ ? proxied.find((other) => other.url === run.url && other.grant === FULL) : undefined;
    for (const scenario of scenarios) judgeProxied(run, full, scenario, direct.results.get(scenario), run.results.get(scenario));
    for (const scenario of run.results.keys()) {
      if (!direct.results.has(scenario)) record(run.name, scenario, 'FAIL', 'not run against the everything server directly');
    }
    judgeTokenCheck(run);
  }
  // The expected file names scenarios of this suite, each for a reason that holds.
  for (const scenario of [...EVERY_SCOPE.keys(), ...READ_ONLY.keys(), ...PROXY_ONLY.keys()]) {
    if (!direct.results.has(scenario)) record('expected', scenario, 'FAIL', 'in conformance-expected.json but not a scenario of the suite');
  }
  for (const scenario of READ_ONLY.keys()) {
    if (!direct.results.get(scenario)?.pass) record('expected', scenario, 'FAIL', 'listed as denied with mcp:read only but fails directly: that proves nothing about our denial');
  }

  const dir = process.env.E2E_REPORT_DIR;
  if (dir) writeFileSync(join(dir, 'conformance.json'), `${JSON.stringify(entries, null, 2)}\n`);
  const failed = entries.filter((entry) => entry.result === 'FAIL').length;
  const timing = done.map((run) => {
    if (!run.grant) return `${run.name} ${(run.ms / 1000).toFixed(1)} s`;
    const ended = run.ended.filter((status) => status >= 200 && status < 300).length;
    return `${run.name} ${(run.ms / 1000).toFixed(1)} s, ${run.grants} token grant(s), ${ended}/${run.ended.length} sessions ended`;
  });
  console.log(`conformance: ${scenarios.length} scenarios x ${done.length} runs in ${((Date.now() - begin) / 1000).toFixed(1)} s (${timing.join('; ')}); ${failed} FAIL`);
  if (process.env.E2E_KEEP_CONFORMANCE) console.log(`conformance: the suite's checks.json files are in ${root}`);
  else rmSync(root, { recursive: true, force: true });
  process.exitCode = failed ? 1 : 0;
}

main().catch((error) => {
  // A run that could not happen (no token, no suite output) is a FAIL in
  // the report too, not only a stack trace in the log.
  record('all', 'setup', 'FAIL', String(error?.message ?? error).slice(0, 500));
  const dir = process.env.E2E_REPORT_DIR;
  if (dir) writeFileSync(join(dir, 'conformance.json'), `${JSON.stringify(entries, null, 2)}\n`);
  console.error(`conformance: ${error.stack ?? error}`);
  process.exitCode = 1;
});
