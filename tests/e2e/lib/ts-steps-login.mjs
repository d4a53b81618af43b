// Steps 1 and 2 of the issue's flow (#10) for the TypeScript SDK: discovery,
// registration, and authorization code with PKCE. Each function asserts one
// step from what the SDK sent and received (the recording fetch); `note`
// turns a step into a DEVIATION where the SDK deviates in a known way, after
// our side's behaviour has been asserted.
//
// The SDK's source that the deviations refer to is
// node_modules/@modelcontextprotocol/sdk/dist/esm/client/{auth.js,streamableHttp.js}
// of version 1.32.2 (line numbers of those files).
import { check } from './ts-report.mjs';
import { bearerParams, decodeJwt, jsonOf } from './ts-record.mjs';
import { REDIRECT_URL, checkedCode } from './ts-provider.mjs';
import { mcpScopes, s256, tokenRequests } from './ts-expect.mjs';

// ---- 1. discovery ---------------------------------------------------------

export function step1Challenge({ t, rec }) {
  const first = rec.log[0];
  check(first?.method === 'POST' && first.url.href === t.url, `first request was ${first?.method} ${first?.url}`);
  check(!first.authorization, 'the first request already carried credentials');
  check(first.status === 401, `unauthenticated initialize got ${first.status}, expected 401`);
  const params = bearerParams(first.wwwAuthenticate);
  check(params, `401 without a Bearer challenge: ${first.wwwAuthenticate}`);
  check(params.resource_metadata, `the challenge names no resource_metadata: ${first.wwwAuthenticate}`);
  check(params.scope === 'mcp:read', `the challenge's scope is "${params.scope}", expected the baseline mcp:read`);
  return `401 ${first.wwwAuthenticate}`;
}

export function step1ResourceMetadata({ t, rec, as }) {
  const challenge = bearerParams(rec.log[0].wwwAuthenticate);
  const next = rec.log[1];
  check(next?.method === 'GET' && next.url.href === challenge.resource_metadata,
    `after the 401 the SDK fetched ${next?.method} ${next?.url}, not the challenge's resource_metadata ${challenge.resource_metadata}`);
  check(next.status === 200, `resource metadata answered ${next.status}`);
  const prm = jsonOf(next.responseText);
  check(prm?.resource === t.url, `resource metadata's resource is ${prm?.resource}, expected ${t.url}`);
  check(prm.authorization_servers?.includes(as), `authorization_servers ${JSON.stringify(prm.authorization_servers)} lacks ${as}`);
  return `GET ${next.url.pathname} (the challenge's resource_metadata) 200: resource ${prm.resource}, authorization_servers [${prm.authorization_servers}]`;
}

export function step1AsMetadata({ rec, as }) {
  // The first discovery: what the SDK did before it registered.
  const registered = rec.log.findIndex((entry) => entry.method === 'POST' && entry.url.origin === as);
  const tried = rec.log.slice(0, registered < 0 ? undefined : registered).filter((entry) => entry.method === 'GET' && entry.url.origin === as && entry.url.pathname.startsWith('/.well-known/'));
  const found = tried.find((entry) => entry.status === 200);
  check(found, `no authorization server metadata found; tried ${tried.map((e) => `${e.url.pathname} ${e.status}`)}`);
  const metadata = jsonOf(found.responseText);
  check(metadata?.issuer === as, `metadata issuer ${metadata?.issuer}, expected ${as}`);
  check(metadata.code_challenge_methods_supported?.includes('S256'), 'metadata without S256');
  return `tried ${tried.map((e) => `${e.url.pathname} ${e.status}`).join(', ')}; issuer ${metadata.issuer}`;
}

/** The authorization server metadata the SDK found (the steps below use its endpoints). */
export function asMetadata({ rec, as }) {
  const found = rec.log.find((entry) => entry.method === 'GET' && entry.url.origin === as && entry.url.pathname.startsWith('/.well-known/') && entry.status === 200);
  return jsonOf(found?.responseText ?? 'null');
}

// ---- 2. registration and authorization code with PKCE ---------------------

export function step2Registration({ rec, provider, metadata }) {
  const registrations = rec.log.filter((entry) => entry.method === 'POST' && entry.url.href === metadata.registration_endpoint);
  check(registrations.length === 1, `${registrations.length} registrations, expected 1`);
  const [registration] = registrations;
  check(registration.status === 201, `registration answered ${registration.status}: ${registration.responseText}`);
  const sent = jsonOf(registration.body);
  const got = jsonOf(registration.responseText);
  check(got?.client_id && got.client_id === provider.client?.client_id, 'the registered client_id is not the one the SDK kept');
  check(sent.token_endpoint_auth_method === 'none' && got.token_endpoint_auth_method === 'none', 'not registered as a public client');
  return `POST ${registration.url.pathname} 201: client ${got.client_id}, public (none), grant_types [${got.grant_types}], registration scope "${sent.scope ?? ''}"`;
}

export function step2AuthorizationRequest({ t, provider, metadata }) {
  const [first] = provider.authorizations;
  check(first, 'the SDK never asked to open an authorization URL');
  const url = first.sdkUrl;
  const q = url.searchParams;
  check(`${url.origin}${url.pathname}` === metadata.authorization_endpoint, `authorization URL ${url.origin}${url.pathname} is not the metadata's endpoint`);
  check(q.get('response_type') === 'code', `response_type ${q.get('response_type')}`);
  check(q.get('client_id') === provider.client.client_id, 'client_id is not the registered one');
  check(q.get('code_challenge_method') === 'S256', `code_challenge_method ${q.get('code_challenge_method')}`);
  check(/^[A-Za-z0-9_-]{43}$/.test(q.get('code_challenge') ?? ''), `code_challenge ${q.get('code_challenge')} is not a SHA-256 in base64url`);
  check(q.get('state') && q.get('state') === first.state, 'the state in the URL is not the one the provider generated');
  check(q.get('redirect_uri') === REDIRECT_URL, `redirect_uri ${q.get('redirect_uri')}`);
  check(q.get('scope') === 'mcp:read', `the SDK asked for scope "${q.get('scope')}", expected the baseline mcp:read only`);
  check(q.get('resource') === t.url, `resource ${q.get('resource')}, expected ${t.url}`);
  return `SDK's URL: response_type=code, code_challenge_method=S256, state, scope="mcp:read", resource=${q.get('resource')}`;
}

export function step2State({ provider, as }) {
  const [first] = provider.authorizations;
  const back = first.back;
  check(back, 'no redirect came back');
  check(back.searchParams.get('state') === first.state, 'the redirect carries another state');
  check(back.searchParams.get('code'), 'the redirect carries no code');
  check(back.searchParams.get('iss') === as, `the redirect's iss ${back.searchParams.get('iss')}`);
  // The check is live: the same redirect with another state is refused.
  const forged = new URL(back);
  forged.searchParams.set('state', `${first.state}x`);
  let refused = false;
  try {
    checkedCode(forged, first.state, as);
  } catch {
    refused = true;
  }
  check(refused, 'a redirect with another state was accepted');
  return `redirect to ${back.origin}${back.pathname} with code, the state sent and iss=${back.searchParams.get('iss')}, both checked by the provider (the SDK checks neither); another state is refused`;
}

export function step2TokenRequest({ t, rec, provider, metadata }) {
  const [first] = provider.authorizations;
  const exchanges = tokenRequests(rec.log, metadata.token_endpoint).filter(({ form }) => form.get('grant_type') === 'authorization_code');
  check(exchanges.length === 1, `${exchanges.length} code exchanges, expected 1`);
  const [{ entry, form }] = exchanges;
  check(entry.status === 200, `token request answered ${entry.status}: ${entry.responseText}`);
  check(form.get('code') === first.back.searchParams.get('code'), 'exchanged another code');
  check(s256(form.get('code_verifier') ?? '') === first.sdkUrl.searchParams.get('code_challenge'), 'code_verifier does not hash to the code_challenge (S256)');
  check(form.get('resource') === t.url, `resource ${form.get('resource')} in the token request, expected ${t.url}`);
  check(form.get('redirect_uri') === REDIRECT_URL, `redirect_uri ${form.get('redirect_uri')}`);
  check(form.get('client_id') === provider.client.client_id && !entry.authorization, 'not a public client authentication (client_id, no secret)');
  const tokens = jsonOf(entry.responseText);
  const { header, claims } = decodeJwt(tokens.access_token);
  check(header.typ === 'at+jwt', `token typ ${header.typ}`);
  check([claims.aud].flat().includes(t.url), `token aud ${claims.aud}, expected ${t.url}`);
  check(mcpScopes(tokens.access_token).join(' ') === 'mcp:read', `token scope "${claims.scope}", expected mcp:read only`);
  return `POST ${entry.url.pathname} authorization_code, code_verifier S256-matches, resource=${form.get('resource')}; at+jwt aud=${claims.aud} scope="${claims.scope}"${tokens.refresh_token ? ' + refresh_token' : ''}`;
}

export function step2OfflineAccess({ provider }, note) {
  const [first] = provider.authorizations;
  const sdkScope = first.sdkUrl.searchParams.get('scope') ?? '';
  const openedScope = first.opened.searchParams.get('scope') ?? '';
  const refresh = provider.tokenHistory[0]?.tokens.refresh_token;
  check(refresh, `no refresh token although the provider asked for "${openedScope}"`);
  if (!sdkScope.split(' ').includes('offline_access')) {
    note.deviation('the SDK does not ask for offline_access itself: clientMetadata.scope "mcp:read offline_access" is only its third choice after the challenge\'s scope (auth.js:274), so the provider adds offline_access and prompt=consent to the URL it opens (what auth.js:811-816 would add)');
  }
  return `scope asked "${openedScope}", refresh token issued`;
}
