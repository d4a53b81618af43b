// What the TypeScript SDK sends and receives, seen from outside it: a `fetch`
// that records every request (URL, method, Authorization, body) and the
// answer's status and auth headers, handed to the SDK's transport (which also
// hands it to `auth()`). The e2e assertions read this log, not the SDK's state:
// it is what went over the wire.

function bodyText(body) {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  return `<${body.constructor?.name ?? typeof body}>`;
}

function urlOf(input) {
  if (typeof input === 'string' || input instanceof URL) return new URL(String(input));
  return new URL(input.url);
}

export class Recorder {
  constructor() {
    this.log = [];
    // Bound, so the SDK can call it as a plain function.
    this.fetch = this.#fetch.bind(this);
  }

  async #fetch(input, init = {}) {
    const url = urlOf(input);
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    const entry = {
      seq: this.log.length,
      url,
      method: (init.method ?? 'GET').toUpperCase(),
      authorization: headers.get('authorization'),
      body: bodyText(init.body),
      at: Date.now(),
    };
    this.log.push(entry);
    let response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      entry.error = String(error);
      throw error;
    }
    entry.status = response.status;
    entry.wwwAuthenticate = response.headers.get('www-authenticate');
    entry.location = response.headers.get('location');
    entry.contentType = response.headers.get('content-type') ?? '';
    // A stream is the SDK's to read; anything else is small (JSON, an error):
    // keep a copy of it for the assertions.
    if (!entry.contentType.startsWith('text/event-stream')) {
      entry.responseText = await response.clone().text();
    }
    return response;
  }

  /** A position in the log: `since(mark)` is what was sent after it. */
  mark() {
    return this.log.length;
  }

  since(mark) {
    return this.log.slice(mark);
  }

  /** The log as text, one exchange a line (for the run's logs directory). */
  dump(label) {
    const line = (entry) => [
      `${label} #${entry.seq} +${entry.at - (this.log[0]?.at ?? entry.at)}ms ${entry.method} ${entry.url.href}`,
      entry.authorization ? `auth=${entry.authorization.slice(0, 24)}...` : 'auth=-',
      `-> ${entry.status ?? entry.error ?? 'pending'}`,
      entry.wwwAuthenticate ? `www-authenticate: ${entry.wwwAuthenticate}` : '',
      entry.body ? `body: ${entry.body.slice(0, 300)}` : '',
    ].filter(Boolean).join(' ');
    return this.log.map(line).join('\n');
  }
}

/** The JSON body of a recorded request, or undefined. */
export function jsonOf(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The header and claims of a JWT, without verifying anything. */
export function decodeJwt(token) {
  const [header, payload] = String(token).split('.');
  const part = (text) => JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  return { header: part(header), claims: part(payload) };
}

/** The parameters of a `WWW-Authenticate: Bearer k="v", ...` header. */
export function bearerParams(header) {
  if (!header || !/^Bearer\b/i.test(header)) return undefined;
  const params = {};
  for (const match of header.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) params[match[1]] = match[2];
  return params;
}
