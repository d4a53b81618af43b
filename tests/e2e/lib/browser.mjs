// The user agent of the e2e suite: what a browser does between a client's
// authorization URL and the redirect back to the client, and nothing more.
// It keeps cookies, follows redirects (303/302/307) while they stay on the
// authorization server's origin, and stops at the first `Location` that starts
// with the client's `redirect_uri`. Login and consent are answered by the
// authorization server itself (tests/e2e/as.mjs); the user is chosen with
// `login_hint`, as the contract says.

const MAX_HOPS = 20;

// Cookies as a browser keeps them, reduced to what a test needs: name, value
// and path; an expired one (Max-Age=0 or an Expires in the past) is dropped.
function storeCookies(jar, response) {
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim());
    const eq = pair.indexOf('=');
    if (eq < 1) continue;
    const cookie = { name: pair.slice(0, eq), value: pair.slice(eq + 1), path: '/' };
    let expired = false;
    for (const attribute of attributes) {
      const [key, value = ''] = attribute.split('=');
      const name = key.toLowerCase();
      if (name === 'path' && value.startsWith('/')) cookie.path = value;
      if (name === 'max-age' && Number(value) <= 0) expired = true;
      if (name === 'expires' && Date.parse(value) < Date.now()) expired = true;
    }
    const key = `${cookie.name};${cookie.path}`;
    if (expired) jar.delete(key);
    else jar.set(key, cookie);
  }
}

function cookieHeader(jar, url) {
  const path = new URL(url).pathname;
  return [...jar.values()]
    .filter((cookie) => path === cookie.path || path.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`))
    .map((cookie) => `${cookie.name}=${cookie.value}`)
    .join('; ');
}

/**
 * Walks an authorization request as `user` would in a browser and returns the
 * URL of the redirect to the client (it carries `code` and `state`, or
 * `error`). Throws if the walk leaves the authorization server's origin for
 * anywhere but the client's redirect_uri, or does not end.
 */
export async function authorize(url, { user = 'alice' } = {}) {
  const start = new URL(url);
  const redirectUri = start.searchParams.get('redirect_uri');
  if (!redirectUri) throw new Error('browser: the authorization URL has no redirect_uri');
  start.searchParams.set('login_hint', user);
  const jar = new Map();
  let current = start;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const cookie = cookieHeader(jar, current);
    const response = await fetch(current, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    storeCookies(jar, response);
    const location = response.headers.get('location');
    if (![301, 302, 303, 307, 308].includes(response.status) || !location) {
      const body = await response.text();
      throw new Error(`browser: ${current} answered ${response.status} without a redirect: ${body.slice(0, 300)}`);
    }
    await response.body?.cancel();
    const next = new URL(location, current);
    if (next.href.startsWith(redirectUri)) return next;
    if (next.origin !== start.origin) throw new Error(`browser: redirect off the authorization server to ${next.origin}`);
    current = next;
  }
  throw new Error(`browser: more than ${MAX_HOPS} redirects`);
}
