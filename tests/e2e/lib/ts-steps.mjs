// The issue's flow (#10), step by step, for the TypeScript SDK against one
// server. Each function asserts one step from what the SDK sent and received
// (the recording fetch) and what the authorization server counted; `note`
// turns a step into a DEVIATION where the SDK deviates in a known way, after
// our side's behaviour has been asserted.
//
// The SDK's source that the deviations refer to is
// node_modules/@modelcontextprotocol/sdk/dist/esm/client/{auth.js,streamableHttp.js}
// of version 1.32.2 (line numbers of those files).
import { StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { InvalidGrantError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { check } from './ts-report.mjs';
import { bearerParams, decodeJwt, jsonOf } from './ts-record.mjs';
import { REDIRECT_URL, InjectProvider, checkedCode } from './ts-provider.mjs';
import { Session, listNames } from './ts-session.mjs';
import {
  checkInsufficientScope,
  checkInvalidToken,
  expectedTools,
  callPosts,
  mcpScopes,
  s256,
  sameList,
  tokenRequests,
} from './ts-expect.mjs';

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

// ---- 3. the list and an allowed call ---------------------------------------

export async function step3List({ session, kindSpec, direct }) {
  const scopes = mcpScopes(session.provider.tokens().access_token);
  const shown = await listNames(session.client);
  const expected = expectedTools(kindSpec, scopes, direct);
  sameList(shown, expected);
  return `tools/list with [${scopes}] shows exactly the ${shown.length} allowed${direct ? ` (of ${direct.length} the unguarded server lists)` : ''}: ${shown.join(',')}`;
}

export async function step3Call({ session, kindSpec }) {
  const result = await session.client.callTool(kindSpec.read_call);
  check(!result.isError, `${kindSpec.read_call.name} failed: ${JSON.stringify(result.content)}`);
  return `${kindSpec.read_call.name} succeeded`;
}

// ---- 4. step-up -------------------------------------------------------------

/**
 * The write call with a refresh token in hand. DEVIATION: the SDK answers
 * the 403 insufficient_scope with auth(), which refreshes when it holds a
 * refresh token (auth.js:351-365) instead of asking the user for the new
 * scope; the refreshed token has the same scopes, the retry gets the same 403,
 * and the SDK gives up (streamableHttp.js:355-356).
 */
export async function step4RefreshInsteadOfStepUp({ t, session, kindSpec, metadata }, note) {
  const { provider, recorder } = session;
  const mark = recorder.mark();
  const authorizationsBefore = provider.authorizations.length;
  let error;
  try {
    await session.client.callTool(kindSpec.write_call);
  } catch (caught) {
    error = caught;
  }
  const window = recorder.since(mark);
  const posts = callPosts(window, t.url, kindSpec.write_call.name);
  const challenge = checkInsufficientScope(posts[0], 'mcp:write', `${kindSpec.write_call.name} with mcp:read`);
  const refreshes = tokenRequests(window, metadata.token_endpoint).filter(({ form }) => form.get('grant_type') === 'refresh_token');
  const reauthorized = provider.authorizations.length > authorizationsBefore;
  if (refreshes.length && !reauthorized) {
    check(error, 'the write call succeeded on a refreshed token that has no mcp:write');
    for (const post of posts.slice(1)) checkInsufficientScope(post, 'mcp:write', 'the retry with the refreshed token');
    note.deviation(`on 403 insufficient_scope the SDK refreshed (grant_type=refresh_token, no scope) instead of re-authorizing for "${challenge.scope}" (auth.js:351-365), retried, got 403 again and gave up: "${error.message}"`);
    return `403 error="insufficient_scope" scope="${challenge.scope}" each time (${posts.length} POSTs); nothing reached the tool`;
  }
  check(!error, `the write call failed: ${error}`);
  return `403 scope="${challenge.scope}", the SDK re-authorized and the call succeeded`;
}

/**
 * The step-up proper: the application forgets the refresh token (and makes
 * one successful request, which resets the SDK's once-per-challenge guard,
 * streamableHttp.js:380-382); the SDK then re-authorizes with the challenge's
 * scope. Known deviation: it asks for the challenge's scope alone, not added
 * to what it holds (streamableHttp.js:358-359 sets it, auth.js:274 prefers
 * it). It shows only when the challenge leaves out a granted scope: our 403
 * names the held mcp:* scopes with the missing one (asserted), so against our
 * servers nothing is lost and the step passes unless it does show.
 */
export async function step4StepUp({ t, session, kindSpec, direct, metadata }, note) {
  const { provider, recorder } = session;
  provider.dropRefreshToken();
  await listNames(session.client);
  const mark = recorder.mark();
  const before = provider.authorizations.length;
  const held = mcpScopes(provider.tokens().access_token);
  const heldGranted = String(provider.tokens().scope ?? '').split(' ').filter(Boolean);
  const result = await session.call((client) => client.callTool(kindSpec.write_call));
  check(!result.isError, `${kindSpec.write_call.name} failed after the step-up: ${JSON.stringify(result.content)}`);
  const window = recorder.since(mark);
  const challenge = checkInsufficientScope(callPosts(window, t.url, kindSpec.write_call.name)[0], 'mcp:write', `${kindSpec.write_call.name} before the step-up`);
  const added = provider.authorizations.slice(before);
  check(added.length === 1, `${added.length} authorizations for one step-up`);
  const asked = added[0].sdkUrl.searchParams.get('scope') ?? '';
  check(added[0].sdkUrl.searchParams.get('resource') === t.url, 'the step-up authorization lacks the resource');
  const exchange = tokenRequests(window, metadata.token_endpoint).find(({ form }) => form.get('grant_type') === 'authorization_code');
  check(exchange?.form.get('resource') === t.url, 'the step-up token request lacks the resource');
  const scopes = mcpScopes(provider.tokens().access_token);
  check(scopes.includes('mcp:write'), `the stepped-up token has [${scopes}]`);
  // Our side: the 403 names what the call needs together with the mcp:* scopes
  // the token holds, so a client that asks for the challenge's scope keeps them.
  const named = challenge.scope.split(' ');
  check(held.every((scope) => named.includes(scope)), `the 403 names "${challenge.scope}", not the held [${held}] too`);
  const askedSet = asked.split(' ');
  const dropped = heldGranted.filter((scope) => !askedSet.includes(scope));
  if (asked === challenge.scope && dropped.length) {
    note.deviation(`on step-up the SDK asked for the challenge's scope "${asked}" alone, dropping [${dropped}] of the granted "${heldGranted.join(' ')}" (streamableHttp.js:358-359 sets it, auth.js:274 prefers it); the provider re-adds offline_access`);
  }
  const shown = await listNames(session.client);
  sameList(shown, expectedTools(kindSpec, scopes, direct));
  return `403 scope="${challenge.scope}" (held + needed), one authorization asking exactly that (the SDK takes the challenge's scope as is) with resource, the retried ${kindSpec.write_call.name} succeeded; token [${scopes}] shows the ${shown.length} tools allowed`;
}

/** A user who may have the scope: bob, holding no refresh token, so the SDK's own step-up path runs. */
export async function step4BobWrite({ t, session, kindSpec }) {
  const { provider, recorder } = session;
  const mark = recorder.mark();
  const before = provider.authorizations.length;
  const result = await session.call((client) => client.callTool(kindSpec.write_call));
  check(!result.isError, `${kindSpec.write_call.name} failed after the step-up: ${JSON.stringify(result.content)}`);
  const challenge = checkInsufficientScope(callPosts(recorder.since(mark), t.url, kindSpec.write_call.name)[0], 'mcp:write', 'bob\'s write call');
  const added = provider.authorizations.length - before;
  check(added === 1, `${added} authorizations`);
  return `bob: 403 scope="${challenge.scope}", the SDK re-authorized once (scope "${provider.authorizations.at(-1).sdkUrl.searchParams.get('scope')}"), the retried call succeeded`;
}

/**
 * bob asks for mcp:admin and is never granted it: the call stays 403 and the
 * client stops. The application would finish up to 3 authorizations; the
 * assertion is that the SDK asks for at most one.
 */
export async function step4BobAdmin({ t, session, kindSpec, stats }) {
  const { provider, recorder } = session;
  const mark = recorder.mark();
  const before = provider.authorizations.length;
  const codesBefore = (await stats()).code[provider.client.client_id] ?? 0;
  let error;
  let result;
  try {
    result = await session.call((client) => client.callTool(kindSpec.admin_call), { authorizations: 3 });
  } catch (caught) {
    error = caught;
  }
  check(error, `bob's ${kindSpec.admin_call.name} succeeded: ${JSON.stringify(result?.content)}`);
  const posts = callPosts(recorder.since(mark), t.url, kindSpec.admin_call.name);
  for (const post of posts) checkInsufficientScope(post, 'mcp:admin', `bob's ${kindSpec.admin_call.name}`);
  const authorizations = provider.authorizations.length - before;
  const codes = ((await stats()).code[provider.client.client_id] ?? 0) - codesBefore;
  check(authorizations <= 1 && posts.length <= 2, `the client looped: ${authorizations} authorizations, ${posts.length} calls`);
  const token = provider.tokens()?.access_token;
  const scopes = token ? mcpScopes(token) : [];
  check(!scopes.includes('mcp:admin'), 'bob was granted mcp:admin');
  const why = error instanceof StreamableHTTPError ? `StreamableHTTPError ${error.code}: ${error.message}` : String(error.message ?? error);
  return `bob: ${posts.length} calls, each 403 insufficient_scope scope=mcp:admin; ${authorizations} authorization (asked "${provider.authorizations.at(-1)?.sdkUrl.searchParams.get('scope')}", granted [${scopes}]), ${codes} code grant; then the SDK stopped: ${why}`;
}

// ---- 5. expiry and refresh --------------------------------------------------

export async function waitForExpiry(accessToken) {
  const { exp } = decodeJwt(accessToken).claims;
  const wait = exp * 1000 + 1000 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

export async function step5Refresh({ t, session, kindSpec, metadata, stats }) {
  const { provider, recorder } = session;
  const expired = provider.tokens().access_token;
  await waitForExpiry(expired);
  const id = provider.client.client_id;
  const refreshesBefore = (await stats()).refresh[id] ?? 0;
  const before = provider.authorizations.length;
  const mark = recorder.mark();
  const result = await session.client.callTool(kindSpec.read_call);
  check(!result.isError, `${kindSpec.read_call.name} failed after the refresh`);
  const window = recorder.since(mark);
  const posts = callPosts(window, t.url, kindSpec.read_call.name);
  check(posts[0]?.authorization === `Bearer ${expired}`, 'the first call did not carry the expired token');
  checkInvalidToken(posts[0], 'the call with the expired token');
  const refreshes = tokenRequests(window, metadata.token_endpoint).filter(({ form }) => form.get('grant_type') === 'refresh_token');
  check(refreshes.length === 1 && refreshes[0].entry.status === 200, `${refreshes.length} refresh requests`);
  check(refreshes[0].form.get('resource') === t.url, 'the refresh request lacks the resource');
  const granted = ((await stats()).refresh[id] ?? 0) - refreshesBefore;
  check(granted === 1, `the authorization server counted ${granted} refreshes`);
  check(provider.authorizations.length === before, 'the SDK re-authorized instead of refreshing');
  const fresh = provider.tokens().access_token;
  check(fresh !== expired && posts.at(-1).authorization === `Bearer ${fresh}` && posts.at(-1).status === 200, 'the retry did not go through with the new token');
  return `expired token: 401 invalid_token; one refresh (resource=${t.url}), counted once by the AS; the retried ${kindSpec.read_call.name} succeeded with the new token`;
}

/**
 * Concurrent calls when the token has expired. DEVIATION: each 401 runs its
 * own auth(), which reads the same refresh token and posts it (auth.js:343-354):
 * nothing in the SDK de-duplicates. With rotation the authorization server
 * grants one and refuses the reuse (oidc-provider then revokes the grant).
 * Our side: every call with the expired token was refused with invalid_token,
 * nothing reached the tool with it, and calls go on (re-authorizing if the
 * grant was revoked).
 */
export async function step5Concurrent({ t, session, kindSpec, metadata, stats }, note, { calls = 3 } = {}) {
  const { provider, recorder } = session;
  const expired = provider.tokens().access_token;
  await waitForExpiry(expired);
  const id = provider.client.client_id;
  const refreshesBefore = (await stats()).refresh[id] ?? 0;
  const mark = recorder.mark();
  provider.navigate = false;
  const settled = await Promise.allSettled(Array.from({ length: calls }, () => session.client.callTool(kindSpec.read_call)));
  provider.navigate = true;
  const window = recorder.since(mark);
  const withExpired = callPosts(window, t.url, kindSpec.read_call.name).filter((post) => post.authorization === `Bearer ${expired}`);
  check(withExpired.length >= calls, `${withExpired.length} calls carried the expired token, expected ${calls}`);
  for (const post of withExpired) checkInvalidToken(post, 'a concurrent call with the expired token');
  const attempts = tokenRequests(window, metadata.token_endpoint).filter(({ form }) => form.get('grant_type') === 'refresh_token');
  const refused = attempts.filter(({ entry }) => entry.status !== 200);
  const granted = ((await stats()).refresh[id] ?? 0) - refreshesBefore;
  const ok = settled.filter((one) => one.status === 'fulfilled' && !one.value.isError).length;
  // Calls go on: one more call, re-authorizing once if the refresh race left no grant.
  const after = await session.call((client) => client.callTool(kindSpec.read_call));
  check(!after.isError, 'the call after the refreshes failed');
  if (attempts.length > 1) {
    const distinct = new Set(attempts.map(({ form }) => form.get('refresh_token'))).size;
    note.deviation(`${calls} concurrent calls after expiry made ${attempts.length} refresh requests (${distinct} distinct refresh token${distinct > 1 ? 's' : ''}): no de-duplication, each auth() reads tokens() and refreshes (auth.js:343-354); the AS granted ${granted} and refused ${refused.length} (${refused.map(({ entry }) => jsonOf(entry.responseText)?.error_description ?? entry.status).join('; ')}: a reused rotated token revokes the grant)`);
  }
  // A call that lost the race ends, depending on timing, in UnauthorizedError
  // (auth() dropped the tokens and wanted a new authorization) or in the AS's
  // invalid_grant (auth() retried with a refresh token of the revoked grant).
  const rejected = settled.filter((one) => one.status === 'rejected').map((one) => one.reason);
  const lost = rejected.filter((reason) => reason instanceof UnauthorizedError || reason instanceof InvalidGrantError);
  check(lost.length === rejected.length, `concurrent calls failed otherwise: ${rejected.filter((reason) => !lost.includes(reason)).map((reason) => reason?.message)}`);
  check(ok + rejected.length === calls, `${calls - ok - rejected.length} calls returned a tool error`);
  return `each of the ${withExpired.length} calls with the expired token got 401 invalid_token; ${ok}/${calls} succeeded after the refresh, ${lost.length} lost the race (${lost.map((reason) => reason.constructor.name).join(', ') || 'none'}); ${granted} refresh granted by the AS; the next call succeeded`;
}

// ---- 6. rejected tokens -----------------------------------------------------

/**
 * Presents `token` through the SDK (InjectProvider's tokens()) in the existing
 * session of `owner`, calling the read tool. Returns the call's outcome and
 * the recorded requests.
 */
export async function injectCall({ t, owner, kindSpec }, token) {
  const provider = new InjectProvider({ token, client: owner.provider.client });
  const session = new Session(t.url, provider, owner.recorder, { sessionId: owner.transport.sessionId });
  await session.connect();
  session.transport.setProtocolVersion(owner.transport.protocolVersion);
  const mark = owner.recorder.mark();
  let result;
  let error;
  try {
    result = await session.client.callTool(kindSpec.read_call);
  } catch (caught) {
    error = caught;
  }
  await session.close();
  const posts = callPosts(owner.recorder.since(mark), t.url, kindSpec.read_call.name);
  return { result, error, posts, provider };
}

export async function step6Rejected(ctx, token, what) {
  const { result, error, posts, provider } = await injectCall(ctx, token);
  check(!result, `the call with ${what} succeeded`);
  check(posts.length === 1, `${posts.length} requests with ${what}, expected 1`);
  check(posts[0].authorization === `Bearer ${token}`, `the SDK did not present ${what}`);
  const params = checkInvalidToken(posts[0], what);
  check(error instanceof UnauthorizedError && provider.redirects.length === 1, `the SDK did not fall back to authorizing: ${error}`);
  return `401 WWW-Authenticate: Bearer error="invalid_token"${params.error_description ? ` (${params.error_description})` : ''}; no call reached the tool; the SDK then asked to authorize`;
}

export async function controlAccepted(ctx, token) {
  const { result, error } = await injectCall(ctx, token);
  check(result && !result.isError, `the control call with the real token failed: ${error}`);
}

// ---- 7. client_credentials ---------------------------------------------------

/** The SDK's own ClientCredentialsProvider (auth-extensions.js) as `machine`, mcp:read. */
export function step7Token({ t, session, metadata }) {
  const requests = tokenRequests(session.recorder.log, metadata.token_endpoint);
  check(requests.length === 1, `${requests.length} token requests`);
  const [{ entry, form }] = requests;
  check(entry.status === 200, `token request answered ${entry.status}: ${entry.responseText}`);
  check(form.get('grant_type') === 'client_credentials', `grant_type ${form.get('grant_type')}`);
  check(form.get('scope') === 'mcp:read', `scope ${form.get('scope')}`);
  check(form.get('resource') === t.url, `resource ${form.get('resource')}`);
  check(entry.authorization?.startsWith('Basic '), 'no client_secret_basic authentication');
  const token = session.provider.tokens().access_token;
  const { claims } = decodeJwt(token);
  check([claims.aud].flat().includes(t.url), `aud ${claims.aud}`);
  check(mcpScopes(token).join(' ') === 'mcp:read', `scope ${claims.scope}`);
  return `after the 401, client_credentials (client_secret_basic) scope=mcp:read resource=${t.url}; token aud=${claims.aud} scope="${claims.scope}"`;
}

export async function step7Read({ session, kindSpec, direct }) {
  const shown = await listNames(session.client);
  sameList(shown, expectedTools(kindSpec, ['mcp:read'], direct));
  const result = await session.client.callTool(kindSpec.read_call);
  check(!result.isError, `${kindSpec.read_call.name} failed`);
  return `tools/list shows only the ${shown.length} read tools; ${kindSpec.read_call.name} succeeded`;
}

/**
 * The write call is refused. The SDK answers the 403 by asking for a token
 * again, with its configured scope, not the challenge's (fetchToken reads
 * provider.clientMetadata.scope, auth.js:960): the same 403 follows and it stops.
 */
export async function step7Write({ t, session, kindSpec, metadata }) {
  const mark = session.recorder.mark();
  let error;
  try {
    await session.client.callTool(kindSpec.write_call);
  } catch (caught) {
    error = caught;
  }
  check(error, `${kindSpec.write_call.name} succeeded with a mcp:read machine token`);
  const window = session.recorder.since(mark);
  const posts = callPosts(window, t.url, kindSpec.write_call.name);
  for (const post of posts) checkInsufficientScope(post, 'mcp:write', `machine's ${kindSpec.write_call.name}`);
  const again = tokenRequests(window, metadata.token_endpoint).map(({ form }) => form.get('scope'));
  check(posts.length <= 2, `the client looped: ${posts.length} calls`);
  return `${posts.length} calls, each 403 insufficient_scope (mcp:write); the SDK asked for a new token with scope [${again}] in between and stopped: ${error.message}`;
}
