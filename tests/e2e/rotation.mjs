// Step 6e, once per server and last in the run: a token signed by a key that
// the issuer has rotated out is refused with `invalid_token`.
//
// The order proves that the refusal is the rotation's doing and nothing else:
// (1) a token the issuer signed with its current key is accepted, so each
//     server has fetched and cached the key set that holds it;
// (2) the issuer rotates: it signs with a new key and publishes only that one;
// (3) a token signed by the new key is accepted once the server has refetched
//     the set (an unknown `kid` makes it refetch, at most every 30 s, so this
//     polls), and from then on the old key is gone from the server's set;
// (4) a token with every claim right, signed by the retired key, is refused.
// This runs after every client, because until (3) the servers refuse fresh
// tokens of everyone.
import { SignJWT, importJWK } from 'jose';
import { Steps, expect } from './lib/steps.mjs';

const AS = process.env.E2E_AS;
const SERVERS = {
  example: process.env.E2E_SERVER_EXAMPLE,
  'proxy-stdio': process.env.E2E_SERVER_PROXY_STDIO,
  'proxy-http': process.env.E2E_SERVER_PROXY_HTTP,
};
const steps = new Steps('rotation');

async function machineToken(resource) {
  const answer = await fetch(`${AS}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('machine:machine-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'mcp:read', resource }),
  });
  const body = await answer.json();
  expect(answer.ok, `token endpoint: ${JSON.stringify(body)}`);
  return body.access_token;
}

// An `initialize`: the first request of any client, which needs only a valid
// token. Returns the status and the challenge.
async function initialize(url, token) {
  const answer = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e-rotation', version: '1' } },
    }),
  });
  await answer.body?.cancel();
  return { status: answer.status, challenge: answer.headers.get('www-authenticate') ?? '' };
}

const kid = (token) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid;

for (const [name, url] of Object.entries(SERVERS)) {
  await steps.check(name, '6e.1', 'a token signed by the current key is accepted', async () => {
    const { status } = await initialize(url, await machineToken(url));
    expect(status === 200, `status ${status}`);
  });
}

const rotated = await (await fetch(`${AS}/test/rotate`, { method: 'POST' })).json();
console.log(`rotated: ${rotated.retired_kid} out, ${rotated.kid} in`);
const retired = await importJWK(await (await fetch(`${AS}/test/retired-key`)).json(), 'RS256');

await Promise.all(
  Object.entries(SERVERS).map(async ([name, url]) => {
    const ok = await steps.check(name, '6e.2', 'a token signed by the new key is accepted once the key set is refetched', async () => {
      const started = Date.now();
      for (;;) {
        const token = await machineToken(url);
        expect(kid(token) === rotated.kid, `the issuer signed with ${kid(token)}`);
        const { status } = await initialize(url, token);
        if (status === 200) return `accepted after ${((Date.now() - started) / 1000).toFixed(1)} s`;
        expect(Date.now() - started < 45_000, `still ${status} 45 s after the rotation`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    });
    if (!ok) return;
    await steps.check(name, '6e.3', 'a token signed by the rotated-out key is refused with invalid_token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ scope: 'mcp:read', client_id: 'machine' })
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: rotated.retired_kid })
        .setIssuer(AS)
        .setAudience(url)
        .setSubject('machine')
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(`rotation-${now}`)
        .sign(retired);
      const { status, challenge } = await initialize(url, token);
      expect(status === 401, `status ${status}`);
      expect(/error="invalid_token"/.test(challenge), `challenge ${challenge}`);
      return `401 ${challenge}`;
    });
  }),
);

steps.finish();
