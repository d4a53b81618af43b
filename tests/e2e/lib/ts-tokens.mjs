// The bad tokens of step 6, each wrong in one way only: the rest of it is a
// real token that the authorization server issued.
import { generateKeyPair, SignJWT } from 'jose';
import { decodeJwt } from './ts-record.mjs';

/** The claims and header of `token`, signed again with a key the issuer never had. */
export async function forgedSignature(token) {
  const { header, claims } = decodeJwt(token);
  const { privateKey } = await generateKeyPair('RS256');
  // Same kid, alg and typ: only the signature says it is not the issuer's.
  return new SignJWT(claims).setProtectedHeader(header).sign(privateKey);
}

/** The claims of `token` under `alg: none`, with an empty signature (RFC 7519 section 6). */
export function algNone(token) {
  const { header, claims } = decodeJwt(token);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ ...header, alg: 'none' })}.${part(claims)}.`;
}

/**
 * A real access token for `resource`, from the authorization server's
 * client_credentials grant (the static client `machine`, mcp:read).
 */
export async function tokenFor(issuer, resource) {
  const metadata = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const response = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from('machine:machine-secret').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'mcp:read', resource }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`token for ${resource}: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}
