// The two implementations of the SDK's `OAuthClientProvider` interface that
// the TypeScript e2e client uses (the third, for client_credentials, is the
// SDK's own `ClientCredentialsProvider`).
//
// BrowserProvider is what an interactive MCP client is: a public client
// (token_endpoint_auth_method none) that the SDK registers with DCR, whose
// `redirectToAuthorization` opens "the browser" (lib/browser.mjs) as a given
// user and keeps the code that comes back, after checking `state`.
//
// InjectProvider hands the SDK one given access token (step 6: forged,
// expired, for another resource...) and never authorizes: it only records that
// the SDK asked to.
import { randomBytes } from 'node:crypto';
import { authorize } from './browser.mjs';

export const REDIRECT_URL = 'http://127.0.0.1:9/ts-sdk/callback';

// The SDK asks for offline_access only when the scope it chose holds it
// (auth.js, startAuthorization: `if (scope?.includes('offline_access'))`), and
// it chooses the challenge's scope first (authInternal: `scope ||
// resourceMetadata?.scopes_supported?.join(' ') || provider.clientMetadata.scope`),
// so `clientMetadata.scope` below is never what it asks for. The provider adds
// offline_access where a provider may: on the URL it is asked to open, with the
// `prompt=consent` that OpenID Connect requires with it and that the SDK itself
// adds in that case.
function withOfflineAccess(url) {
  const out = new URL(url);
  const scopes = (out.searchParams.get('scope') ?? '').split(' ').filter(Boolean);
  if (!scopes.includes('offline_access')) scopes.push('offline_access');
  out.searchParams.set('scope', scopes.join(' '));
  const prompts = (out.searchParams.get('prompt') ?? '').split(' ').filter(Boolean);
  if (!prompts.includes('consent')) prompts.push('consent');
  out.searchParams.set('prompt', prompts.join(' '));
  return out;
}

/**
 * The code of a redirect back to the client, once it is known to answer the
 * request this client made. The SDK leaves this to the application: it
 * generates nothing but the URL's `state` (provider.state(), auth.js:377) and
 * `finishAuth` takes a bare code. So the provider checks `state` (the value it
 * generated for this very request) and `iss` (RFC 9207, which the
 * authorization server sends) before it lets the SDK exchange anything.
 */
export function checkedCode(back, state, issuer) {
  if (back.searchParams.get('state') !== state) {
    throw new Error(`state mismatch: sent ${state}, got ${back.searchParams.get('state')}`);
  }
  const iss = back.searchParams.get('iss');
  if (iss !== null && iss !== issuer) throw new Error(`iss mismatch: ${iss} is not ${issuer}`);
  if (back.searchParams.get('error')) {
    throw new Error(`authorization refused: ${back.searchParams.get('error')} ${back.searchParams.get('error_description') ?? ''}`);
  }
  const code = back.searchParams.get('code');
  if (!code) throw new Error('the redirect carries no code');
  return code;
}

export class BrowserProvider {
  /**
   * user: who logs in (alice, bob); offlineAccess: whether the provider adds
   * offline_access to what the SDK asks; issuer: the expected `iss` of the
   * authorization response (RFC 9207).
   */
  constructor({ user, offlineAccess, issuer, name }) {
    this.user = user;
    this.offlineAccess = offlineAccess;
    this.issuer = issuer;
    this.name = name;
    // Each authorization as the SDK built it, what was opened, and what came back.
    this.authorizations = [];
    this.tokenHistory = [];
    this.invalidations = [];
    // When false, `redirectToAuthorization` records and opens nothing (the
    // user closed the browser): the SDK's call then fails with UnauthorizedError.
    this.navigate = true;
    this.pending = undefined;
  }

  get redirectUrl() {
    return REDIRECT_URL;
  }

  get clientMetadata() {
    return {
      client_name: `e2e ts-sdk ${this.name}`,
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      // Never used for the authorization request when the server's challenge
      // names a scope (see withOfflineAccess); kept to show that.
      scope: this.offlineAccess ? 'mcp:read offline_access' : 'mcp:read',
    };
  }

  state() {
    this.currentState = randomBytes(16).toString('base64url');
    return this.currentState;
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return this.current;
  }

  saveTokens(tokens) {
    this.current = tokens;
    this.tokenHistory.push({ tokens, at: Date.now() });
  }

  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }

  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }

  invalidateCredentials(scope) {
    this.invalidations.push(scope);
    if (scope === 'all' || scope === 'tokens') this.current = undefined;
    if (scope === 'all' || scope === 'client') this.client = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
  }

  async redirectToAuthorization(sdkUrl) {
    const record = { sdkUrl: new URL(sdkUrl), state: this.currentState };
    this.authorizations.push(record);
    if (!this.navigate) return;
    record.opened = this.offlineAccess ? withOfflineAccess(sdkUrl) : new URL(sdkUrl);
    const back = await authorize(record.opened, { user: this.user });
    record.back = back;
    this.pending = checkedCode(back, record.state, this.issuer);
  }

  /** The code of the last authorization, once. */
  takeCode() {
    const code = this.pending;
    this.pending = undefined;
    return code;
  }

  /** The app's way around the SDK refreshing on a 403 (step 4): forget the refresh token only. */
  dropRefreshToken() {
    if (this.current) this.current = { ...this.current, refresh_token: undefined };
  }
}

export class InjectProvider {
  /** token: the access token to present; client: the registered client to claim. */
  constructor({ token, client }) {
    this.token = token;
    this.client = client;
    this.redirects = [];
  }

  get redirectUrl() {
    return REDIRECT_URL;
  }

  get clientMetadata() {
    return { redirect_uris: [REDIRECT_URL], token_endpoint_auth_method: 'none' };
  }

  clientInformation() {
    return this.client;
  }

  saveClientInformation(info) {
    this.client = info;
  }

  tokens() {
    return { access_token: this.token, token_type: 'Bearer' };
  }

  saveTokens() {
    throw new Error('InjectProvider: the SDK obtained a token, which step 6 never lets it do');
  }

  saveCodeVerifier() {}

  codeVerifier() {
    throw new Error('InjectProvider: no authorization is ever completed');
  }

  redirectToAuthorization(url) {
    this.redirects.push(new URL(url));
  }
}
