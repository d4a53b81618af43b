// Step 0: the authorization server is configured as the issue asks, checked
// from outside as any client sees it, so that what the clients prove rests on
// a known configuration: PKCE S256 required and `plain` refused, refresh
// tokens rotated (a used one is refused), metadata that advertises both.
import { createHash, randomBytes } from 'node:crypto';
import { Steps, expect } from './lib/steps.mjs';

const AS = process.env.E2E_AS;
const RESOURCE = process.env.E2E_SERVER_EXAMPLE;
const REDIRECT = 'http://127.0.0.1:9/callback';
const steps = new Steps('as-check');

const metadata = await (await fetch(`${AS}/.well-known/openid-configuration`)).json();

await steps.check('oidc-provider', '0.1', 'metadata advertises S256 only, DCR, refresh and client_credentials', () => {
  expect(JSON.stringify(metadata.code_challenge_methods_supported) === '["S256"]', `code_challenge_methods_supported is ${JSON.stringify(metadata.code_challenge_methods_supported)}`);
  expect(metadata.registration_endpoint, 'no registration_endpoint');
  for (const grant of ['authorization_code', 'refresh_token', 'client_credentials']) {
    expect(metadata.grant_types_supported.includes(grant), `grant ${grant} not advertised`);
  }
  expect(!metadata.grant_types_supported.includes('implicit') || !metadata.response_types_supported.some((t) => t.includes('token')), 'implicit tokens offered');
});

const client = await (
  await fetch(metadata.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }),
  })
).json();

// The authorization endpoint's answer to a request: where it sends the user
// agent first (an error goes back to the client's redirect URI).
async function firstRedirect(params) {
  const url = new URL(metadata.authorization_endpoint);
  const all = { client_id: client.client_id, response_type: 'code', redirect_uri: REDIRECT, scope: 'mcp:read', state: 's', resource: RESOURCE, ...params };
  for (const [key, value] of Object.entries(all)) if (value !== undefined) url.searchParams.set(key, value);
  const answer = await fetch(url, { redirect: 'manual' });
  return new URL(answer.headers.get('location') ?? 'about:blank', url);
}

const verifier = randomBytes(32).toString('base64url');
const s256 = createHash('sha256').update(verifier).digest('base64url');

await steps.check('oidc-provider', '0.2', 'an authorization request without PKCE is refused', async () => {
  const to = await firstRedirect({});
  expect(to.searchParams.get('error') === 'invalid_request', `went to ${to}`);
  return `refused: ${to.searchParams.get('error_description')}`;
});
await steps.check('oidc-provider', '0.3', 'PKCE `plain` is refused', async () => {
  const to = await firstRedirect({ code_challenge: verifier, code_challenge_method: 'plain' });
  expect(to.searchParams.get('error') === 'invalid_request', `went to ${to}`);
  return `refused: ${to.searchParams.get('error_description')}`;
});
await steps.check('oidc-provider', '0.4', 'PKCE S256 is accepted (the user agent is sent to log in)', async () => {
  const to = await firstRedirect({ code_challenge: s256, code_challenge_method: 'S256' });
  expect(to.origin === AS && to.pathname.startsWith('/interaction/'), `went to ${to}`);
});
await steps.check('oidc-provider', '0.5', 'a resource other than a server of the suite is refused', async () => {
  const to = await firstRedirect({ code_challenge: s256, code_challenge_method: 'S256', resource: 'https://elsewhere.example/mcp' });
  expect(to.searchParams.get('error') === 'invalid_target', `went to ${to}`);
});
await steps.check('oidc-provider', '0.6', 'the `machine` client gets mcp:read and no more', async () => {
  const answer = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('machine:machine-secret').toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'mcp:read mcp:write mcp:admin', resource: RESOURCE }),
  });
  const token = await answer.json();
  expect(answer.ok, `token endpoint: ${JSON.stringify(token)}`);
  expect(token.scope === 'mcp:read', `scope ${token.scope}`);
  const [header, claims] = token.access_token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url')));
  expect(header.typ === 'at+jwt', `typ ${header.typ}`);
  expect(claims.aud === RESOURCE, `aud ${claims.aud}`);
  return `typ ${header.typ}, aud the resource, scope ${token.scope}`;
});

steps.finish();
