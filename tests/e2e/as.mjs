// The authorization server of the e2e suite: oidc-provider (OpenID-certified),
// configured as the MCP authorization spec expects an authorization server to
// be, plus a few test endpoints under /test/ for the assertions.
//
//   node as.mjs            listens on 127.0.0.1:$AS_PORT (0: a free port) and
//                          prints `ready <issuer>` on stdout when it serves.
//
// What it does (tests/e2e/README.md and docs/e2e.md say why each matters):
// - dynamic client registration (RFC 7591), open;
// - authorization code with PKCE S256 required for every client, `plain` refused;
// - resource indicators (RFC 8707): JWT access tokens (`typ: at+jwt`, RFC 9068)
//   whose `aud` is the requested resource, a server URL on 127.0.0.1, and whose
//   `scope` holds the granted mcp:* scopes;
// - refresh tokens when `offline_access` is granted, rotated on every use;
// - `client_credentials` for two static machine clients;
// - access tokens that live E2E_TOKEN_TTL seconds (20 by default);
// - login and consent answered at once for two users, `alice` and `bob`, chosen
//   with `login_hint`; `bob` is never granted mcp:admin.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

const TTL = Number(process.env.E2E_TOKEN_TTL ?? 20);
const MCP_SCOPES = ['mcp:read', 'mcp:write', 'mcp:admin'];

// Who may be granted what. A scope a user may not have is left out of the grant
// (the request is not an error): that is what a real consent screen does when
// the user, or the organisation's rules, refuse part of a request.
const USERS = {
  alice: new Set(MCP_SCOPES),
  bob: new Set(['mcp:read', 'mcp:write']),
};

// Machine clients (`client_credentials`), and the mcp:* scopes each may get.
const MACHINES = {
  machine: { secret: 'machine-secret', scopes: 'mcp:read' },
  'machine-all': { secret: 'machine-all-secret', scopes: MCP_SCOPES.join(' ') },
};

// A resource is one of the suite's servers: an http URL on 127.0.0.1 whose
// path is /mcp. Anything else is `invalid_target`.
function checkedResource(resource) {
  let url;
  try {
    url = new URL(resource);
  } catch {
    throw new errors.InvalidTarget('the resource is not a URL');
  }
  if (url.protocol !== 'http:' || url.hostname !== '127.0.0.1' || url.pathname !== '/mcp' || url.search || url.hash) {
    throw new errors.InvalidTarget('the resource must be http://127.0.0.1:PORT/mcp');
  }
  return resource;
}

// Two signing keys: the first signs until POST /test/rotate, then the second
// signs and the first is no longer published (the issuer "rotated it out").
async function signingKey(kid) {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  return { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
}
const keys = [await signingKey(`e2e-${randomUUID()}`), await signingKey(`e2e-${randomUUID()}`)];
let current = 0;
const publicJwk = ({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use });

const stats = { code: {}, refresh: {}, client_credentials: {}, registrations: 0 };
const GRANT_NAMES = {
  authorization_code: 'code',
  refresh_token: 'refresh',
  client_credentials: 'client_credentials',
};

const server = http.createServer();
// Node closes an idle kept-alive connection after 5 s; a client that reuses
// it at that moment gets a reset ("request failed"), a race that showed up
// under load with rmcp's OAuth client (reqwest keeps idle connections 90 s).
// The client closes first when the server waits longer than it.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
await new Promise((resolve) => server.listen(Number(process.env.AS_PORT ?? 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: Object.entries(MACHINES).map(([clientId, { secret }]) => ({
    client_id: clientId,
    client_secret: secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys },
  cookies: { keys: [randomUUID()] },
  // OIDC scopes only: the mcp:* scopes are the resource server's (below).
  scopes: ['openid', 'offline_access'],
  responseTypes: ['code'],
  pkce: { methods: ['S256'], required: () => true },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: TTL,
    ClientCredentials: TTL,
    AuthorizationCode: 60,
    Interaction: 300,
    Session: 3600,
    Grant: 3600,
    RefreshToken: 3600,
  },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A token request without `resource` gets the one resource the grant has.
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: MACHINES[client.clientId]?.scopes ?? MCP_SCOPES.join(' '),
        audience: checkedResource(resource),
        accessTokenTTL: TTL,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256', kid: keys[current].kid } },
      }),
    },
  },
  findAccount: (ctx, id) =>
    USERS[id] ? { accountId: id, claims: async () => ({ sub: id }) } : undefined,
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  clientBasedCORS: () => false,
  renderError: (ctx, out) => {
    ctx.type = 'application/json';
    ctx.body = out;
  },
});

provider.on('grant.success', (ctx) => {
  const kind = GRANT_NAMES[ctx.oidc.params.grant_type];
  const client = ctx.oidc.client?.clientId;
  if (kind && client) stats[kind][client] = (stats[kind][client] ?? 0) + 1;
});
provider.on('registration_create.success', () => {
  stats.registrations += 1;
});
provider.on('server_error', (ctx, error) => console.error('as: server_error', error));

// Login and consent, answered at once: the user named by `login_hint` (alice
// by default) logs in, and consents to what was asked, less what the user may
// not have (rejected in the grant, so oidc-provider does not ask again).
async function interaction(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params, session } = details;
  if (prompt.name === 'login') {
    const user = params.login_hint ?? 'alice';
    const result = USERS[user]
      ? { login: { accountId: user } }
      : { error: 'access_denied', error_description: `no user ${user}` };
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'consent') {
    const may = USERS[session.accountId] ?? new Set();
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missingResourceScopes ?? {})) {
      const granted = scopes.filter((scope) => may.has(scope));
      const refused = scopes.filter((scope) => !may.has(scope));
      if (granted.length) grant.addResourceScope(resource, granted.join(' '));
      if (refused.length) grant.rejectResourceScope(resource, refused.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  ctx.status = 400;
  ctx.body = { error: 'unexpected_prompt', prompt: prompt.name };
}

// A client may register with `scope` holding the resource's scopes (the
// TypeScript SDK puts the server's challenge scope there). oidc-provider takes
// only its own (OIDC) scopes in a client's `scope`, and refuses the rest with
// invalid_client_metadata; the mcp:* scopes are the resource server's, granted
// per resource (getResourceServerInfo). RFC 7591 §3.2.1 lets the server replace
// requested metadata, so the registration keeps the OIDC scopes of `scope` and
// drops the rest. (oidc-provider then warns that the body was parsed before it.)
const OIDC_SCOPES = new Set(['openid', 'offline_access']);
async function registrationScope(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text; // oidc-provider refuses it as it would have
  }
  if (body && typeof body === 'object' && typeof body.scope === 'string') {
    const own = body.scope.split(' ').filter((scope) => OIDC_SCOPES.has(scope));
    if (own.length) body.scope = own.join(' ');
    else delete body.scope;
  }
  ctx.request.body = body;
}

function json(ctx, body) {
  ctx.type = 'application/json';
  ctx.body = body;
}

provider.use(async (ctx, next) => {
  if (ctx.path === '/reg' && ctx.method === 'POST' && ctx.is('application/json')) {
    await registrationScope(ctx);
  }
  if (ctx.path.startsWith('/interaction/') && ctx.method === 'GET') {
    await interaction(ctx);
    return;
  }
  // Only the current key is published: a rotated-out key is gone from the set.
  if (ctx.path === '/jwks' && ctx.method === 'GET') {
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.body = { keys: [publicJwk(keys[current])] };
    return;
  }
  if (ctx.path === '/test/stats' && ctx.method === 'GET') {
    json(ctx, stats);
    return;
  }
  if (ctx.path === '/test/rotate' && ctx.method === 'POST') {
    if (current === 0) current = 1;
    json(ctx, { retired_kid: keys[0].kid, kid: keys[1].kid });
    return;
  }
  if (ctx.path === '/test/retired-key' && ctx.method === 'GET') {
    if (current === 0) {
      ctx.status = 409;
      json(ctx, { error: 'no key has been rotated out yet' });
    } else {
      json(ctx, keys[0]);
    }
    return;
  }
  await next();
});

server.on('request', provider.callback());
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`ready ${issuer}`);
