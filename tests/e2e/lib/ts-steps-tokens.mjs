// Steps 5 to 7 of the issue's flow (#10) for the TypeScript SDK: expiry and
// refresh, the tokens that must be rejected (6a-6d), and client_credentials.
//
// The SDK's source that the deviations refer to is
// node_modules/@modelcontextprotocol/sdk/dist/esm/client/{auth.js,streamableHttp.js}
// of version 1.32.2 (line numbers of those files).
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { InvalidGrantError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { check } from './ts-report.mjs';
import { decodeJwt, jsonOf } from './ts-record.mjs';
import { InjectProvider } from './ts-provider.mjs';
import { Session, listNames } from './ts-session.mjs';
import { callPosts, checkInsufficientScope, checkInvalidToken, expectedTools, mcpScopes, sameList, tokenRequests } from './ts-expect.mjs';

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
