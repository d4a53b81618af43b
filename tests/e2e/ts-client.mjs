#!/usr/bin/env node
// The official TypeScript SDK (@modelcontextprotocol/sdk, pinned in
// package.json) through the flow of issue #10, steps 1 to 7 (6a-6d; the
// rotated key, 6e, is run once by run.sh for everyone), against the three
// servers of the e2e stack, concurrently. Needs the variables of
// `run.sh --up ENVFILE` (tests/e2e/README.md, docs/e2e.md).
//
//   node tests/e2e/ts-client.mjs [example] [proxy-stdio] [proxy-http]
//
// Prints `STEP ts-sdk <server> <n>.<sub> PASS|FAIL|DEVIATION <text>` per step,
// writes $E2E_REPORT_DIR/ts-sdk.json, and exits 1 if a step failed.
//
// Per server, three interactive clients, each registered by the SDK (DCR):
// A (alice, with a refresh token) walks the main flow; C (alice, with a
// refresh token) only makes the concurrent calls of step 5, on its own expiry
// and its own client_id, so the authorization server's counts are its own; B
// (bob, no refresh token) shows the SDK's own step-up, and the admin scope
// that bob is never granted. Steps that need no expired token (6a, 6c, 6d, 7)
// run while the tokens age; the wait is one token lifetime.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Recorder } from './lib/ts-record.mjs';
import { Report } from './lib/ts-report.mjs';
import { BrowserProvider } from './lib/ts-provider.mjs';
import { Session, listNames, newClient } from './lib/ts-session.mjs';
import { algNone, forgedSignature, tokenFor } from './lib/ts-tokens.mjs';
import * as login from './lib/ts-steps-login.mjs';
import * as scopes from './lib/ts-steps-scopes.mjs';
import * as tokens from './lib/ts-steps-tokens.mjs';

const CLIENT = 'ts-sdk';
// Past this, something hangs: fail rather than eat the CI budget.
const DEADLINE_MS = Number(process.env.E2E_TS_DEADLINE_MS ?? 150_000);

function need(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`ts-client: ${name} is not set; source the file written by tests/e2e/run.sh --up`);
    process.exit(2);
  }
  return value;
}

const AS = need('E2E_AS');
const servers = JSON.parse(readFileSync(need('E2E_SERVERS_JSON'), 'utf8'));
const TARGETS = [
  { name: 'example', kind: 'example', url: need('E2E_SERVER_EXAMPLE') },
  { name: 'proxy-stdio', kind: 'everything', url: need('E2E_SERVER_PROXY_STDIO') },
  { name: 'proxy-http', kind: 'everything', url: need('E2E_SERVER_PROXY_HTTP') },
];
const report = new Report(CLIENT);
// Steps 1-4 and 6a-7 take a few seconds and assume that no token expires
// meanwhile (a refresh would land in their windows); 5 and 6b wait for expiry.
const TTL = Number(process.env.E2E_TOKEN_TTL ?? 20);
if (TTL < 10) console.error(`ts-client: E2E_TOKEN_TTL=${TTL} is below the 10 s the steps before expiry assume`);

async function stats() {
  const response = await fetch(`${AS}/test/stats`);
  if (!response.ok) throw new Error(`GET /test/stats: ${response.status}`);
  return response.json();
}

/** What the unguarded everything server lists to a client with our capabilities. */
async function directTools() {
  const client = newClient();
  const transport = new StreamableHTTPClientTransport(new URL(need('E2E_EVERYTHING_DIRECT')));
  await client.connect(transport);
  const names = await listNames(client);
  await transport.terminateSession().catch(() => {});
  await client.close();
  return names;
}

function interactive(t, user, offlineAccess, letter) {
  const provider = new BrowserProvider({ user, offlineAccess, issuer: AS, name: `${t.name} ${letter}` });
  return new Session(t.url, provider, new Recorder(), { rootsRequest: t.kind === 'everything' });
}

async function runTarget(t, direct) {
  const kindSpec = servers.kinds[t.kind];
  const base = { t, as: AS, kindSpec, direct: t.kind === 'everything' ? direct : undefined, stats };
  const step = (id, what, body) => report.step(t.name, id, what, body);
  const sessions = [];
  try {
    const [a, b, c] = [interactive(t, 'alice', true, 'A'), interactive(t, 'bob', false, 'B'), interactive(t, 'alice', true, 'C')];
    sessions.push(a, b, c);
    await Promise.all(sessions.map((session) => session.connect()));
    const metadata = login.asMetadata({ rec: a.recorder, as: AS });
    const A = { ...base, session: a, rec: a.recorder, provider: a.provider, metadata };
    const B = { ...base, session: b, metadata };
    const C = { ...base, session: c, metadata };

    await step('1.1', 'unauthenticated: 401 with resource_metadata and the baseline scope', () => login.step1Challenge(A));
    await step('1.2', 'the client follows resource_metadata', () => login.step1ResourceMetadata(A));
    await step('1.3', 'the client finds the authorization server metadata', () => login.step1AsMetadata(A));
    await step('2.1', 'dynamic client registration', () => login.step2Registration(A));
    await step('2.2', 'authorization request: PKCE S256, state, baseline scope, resource', () => login.step2AuthorizationRequest(A));
    await step('2.3', 'the redirect\'s state is checked', () => login.step2State(A));
    await step('2.4', 'token request: code_verifier and resource', () => login.step2TokenRequest(A));
    await step('2.5', 'a refresh token (offline_access)', (note) => login.step2OfflineAccess(A, note));
    await step('3.1', 'tools/list shows exactly what mcp:read allows', () => scopes.step3List(A));
    await step('3.2', 'an allowed call succeeds', () => scopes.step3Call(A));

    // bob's steps run beside alice's: separate client, session and recorder.
    const bob = (async () => {
      await step('4.3', 'step-up by the SDK alone (bob, no refresh token)', () => scopes.step4BobWrite(B));
      await step('4.4', 'mcp:admin stays denied for bob, no loop', () => scopes.step4BobAdmin(B));
      await step('4.5', 'mcp:admin asked again after a successful request: still denied', (note) => scopes.step4DeniedAgain(B, note));
    })();
    await step('4.1', 'write call: 403 insufficient_scope (client holding a refresh token)', (note) => scopes.step4RefreshInsteadOfStepUp(A, note));
    await step('4.2', 'step-up to mcp:write, the retried call succeeds', (note) => scopes.step4StepUp(A, note));
    await bob;

    // While the tokens age: the rejected tokens that need no expiry, and the machine.
    const I = { ...base, owner: a };
    const others = TARGETS.filter((other) => other.url !== t.url);
    await step('6a.1', 'a token for another resource: 401 invalid_token', async () => {
      const other = others[0]?.url ?? t.url.replace(/:\d+\//, ':1/');
      const token = await tokenFor(AS, other);
      return `token for ${other}: ${await tokens.step6Rejected(I, token, 'a token for another resource')}`;
    });
    await step('6c.1', 'a forged signature: 401 invalid_token', async () => {
      const real = a.provider.tokens().access_token;
      await tokens.controlAccepted(I, real);
      return `the real token is accepted; re-signed by another key: ${await tokens.step6Rejected(I, await forgedSignature(real), 'a forged signature')}`;
    });
    await step('6d.1', 'alg none: 401 invalid_token', async () => {
      const real = a.provider.tokens().access_token;
      return `alg none: ${await tokens.step6Rejected(I, algNone(real), 'an alg:none token')}`;
    });
    const machine = new ClientCredentialsProvider({
      clientId: 'machine',
      clientSecret: 'machine-secret',
      scope: 'mcp:read',
      expectedIssuer: AS,
    });
    const m = new Session(t.url, machine, new Recorder(), { rootsRequest: t.kind === 'everything' });
    sessions.push(m);
    await m.connect();
    const M = { ...base, session: m, metadata };
    await step('7.1', 'client_credentials token (SDK ClientCredentialsProvider), mcp:read', () => tokens.step7Token(M));
    await step('7.2', 'machine: tools/list shows only read tools, a read call succeeds', () => tokens.step7Read(M));
    await step('7.3', 'machine: a write call is refused 403', () => tokens.step7Write(M));

    // One token lifetime after the start: the refreshes, then the expired token.
    await Promise.all([
      step('5.1', 'expired token: 401, one refresh, the call goes on', () => tokens.step5Refresh(A)),
      step('5.2', 'concurrent calls at expiry: refreshes counted', (note) => tokens.step5Concurrent(C, note)),
    ]);
    await step('6b.1', 'an expired token: 401 invalid_token', async () => {
      const first = a.provider.tokenHistory[0].tokens.access_token;
      await tokens.waitForExpiry(first);
      return `the first token, expired: ${await tokens.step6Rejected(I, first, 'an expired token')}`;
    });
  } catch (error) {
    report.add(t.name, '0.0', 'FAIL', `the flow stopped: ${error?.stack ?? error}`, 'the flow ran to its end');
  } finally {
    await Promise.all(sessions.map((session) => session.close()));
    wireLog(t, sessions);
  }
}

// What each session sent and got, for a failure's diagnosis: next to the
// stack's logs when run.sh gave a run directory.
function wireLog(t, sessions) {
  const dir = process.env.E2E_RUN_DIR;
  if (!dir) return;
  const text = sessions.map((session, index) => session.recorder.dump(`${t.name}/${'ABCM'[index] ?? index}`)).join('\n');
  try {
    mkdirSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(join(dir, 'logs', `ts-sdk-${t.name}.wire.log`), `${text}\n`);
  } catch (error) {
    console.error(`ts-client: could not write the wire log: ${error}`);
  }
}

const started = Date.now();
const deadline = setTimeout(() => {
  report.add('all', '0.0', 'FAIL', `still running after ${DEADLINE_MS} ms`);
  report.write(process.env.E2E_REPORT_DIR, TARGETS.map((t) => t.name));
  process.exit(1);
}, DEADLINE_MS);
deadline.unref();

const only = process.argv.slice(2);
const targets = only.length ? TARGETS.filter((t) => only.includes(t.name)) : TARGETS;
let direct;
try {
  direct = await directTools();
} catch (error) {
  report.add('everything-direct', '0.0', 'FAIL', `the unguarded everything server did not list its tools: ${error}`);
}
await Promise.all(targets.map((t) => runTarget(t, direct)));
const path = report.write(process.env.E2E_REPORT_DIR, TARGETS.map((t) => t.name));
const counts = report.rows.reduce((acc, row) => ({ ...acc, [row.result]: (acc[row.result] ?? 0) + 1 }), {});
console.log(`ts-sdk: ${JSON.stringify(counts)} in ${((Date.now() - started) / 1000).toFixed(1)} s${path ? `, report ${path}` : ''}`);
process.exit(report.failed ? 1 : 0);
