// What the servers must show and answer, from servers.json and the tokens,
// and the checks on recorded exchanges that several steps share.
import { createHash } from 'node:crypto';
import { check } from './ts-report.mjs';
import { bearerParams, decodeJwt, jsonOf } from './ts-record.mjs';

export const MCP_SCOPES = ['mcp:read', 'mcp:write', 'mcp:admin'];

/** The mcp:* scopes of an access token, sorted. */
export function mcpScopes(accessToken) {
  const { claims } = decodeJwt(accessToken);
  return String(claims.scope ?? '')
    .split(' ')
    .filter((scope) => MCP_SCOPES.includes(scope))
    .sort();
}

/**
 * The tool names a client holding `scopes` must be shown: what servers.json
 * allows for them and, for the everything server (whose list depends on the
 * client's capabilities), only what the unguarded server lists to the same
 * client (`direct`).
 */
export function expectedTools(kindSpec, scopes, direct) {
  const allowed = new Set(scopes.flatMap((scope) => kindSpec.allowed[scope] ?? []));
  const names = [...allowed].filter((name) => !direct || direct.includes(name));
  return names.sort();
}

export function sameList(shown, expected) {
  const missing = expected.filter((name) => !shown.includes(name));
  const extra = shown.filter((name) => !expected.includes(name));
  check(!missing.length && !extra.length, `tools/list differs: missing [${missing}] extra [${extra}]`);
}

export function s256(verifier) {
  return createHash('sha256').update(verifier).digest('base64url');
}

/**
 * The POSTs to the MCP endpoint `url` among `entries` that call `tool`: other
 * POSTs of the session (answers to the server's own requests, notifications)
 * may be in flight at the same time.
 */
export function callPosts(entries, url, tool) {
  return entries.filter((entry) => {
    if (entry.method !== 'POST' || entry.url.href !== url) return false;
    const message = jsonOf(entry.body ?? '');
    return message?.method === 'tools/call' && message.params?.name === tool;
  });
}

/** The token-endpoint requests among `entries`, with their grant type. */
export function tokenRequests(entries, tokenEndpoint) {
  return entries
    .filter((entry) => entry.method === 'POST' && entry.url.href === tokenEndpoint)
    .map((entry) => ({ entry, form: new URLSearchParams(entry.body ?? '') }));
}

/**
 * Our side of a rejected token: 401, `WWW-Authenticate: Bearer` with
 * error="invalid_token" and the resource metadata, and no JSON-RPC result in
 * the body (the request went no further than the token check).
 */
export function checkInvalidToken(entry, what) {
  check(entry, `${what}: no request reached the server`);
  check(entry.status === 401, `${what}: status ${entry.status}, expected 401`);
  const params = bearerParams(entry.wwwAuthenticate);
  check(params?.error === 'invalid_token', `${what}: WWW-Authenticate is ${entry.wwwAuthenticate}, expected Bearer error="invalid_token"`);
  check(params.resource_metadata, `${what}: the 401 names no resource_metadata`);
  const body = jsonOf(entry.responseText);
  check(body?.result === undefined, `${what}: the 401 carries a JSON-RPC result`);
  return params;
}

/** Our side of a missing scope: 403 Bearer error="insufficient_scope" naming `scope`. */
export function checkInsufficientScope(entry, scope, what) {
  check(entry, `${what}: no request reached the server`);
  check(entry.status === 403, `${what}: status ${entry.status}, expected 403`);
  const params = bearerParams(entry.wwwAuthenticate);
  check(params?.error === 'insufficient_scope', `${what}: WWW-Authenticate is ${entry.wwwAuthenticate}, expected error="insufficient_scope"`);
  const named = String(params.scope ?? '').split(' ');
  check(named.includes(scope), `${what}: the 403 names scope="${params.scope}", not ${scope}`);
  check(jsonOf(entry.responseText)?.result === undefined, `${what}: the 403 carries a JSON-RPC result`);
  return params;
}
