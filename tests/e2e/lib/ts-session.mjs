// An MCP session driven by the official TypeScript SDK: its `Client` over its
// `StreamableHTTPClientTransport`, with an `OAuthClientProvider` and the
// recording fetch. What the SDK leaves to the application (finishing an
// authorization after the redirect, then trying again) is done here, the way
// the SDK's own examples do it, and bounded.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';

// The everything server lists some tools only to a client that declares
// roots, sampling or elicitation: declaring them all puts the most tool names
// through the policy. The handlers answer politely and do nothing.
export const CAPABILITIES = { roots: { listChanged: false }, sampling: {}, elicitation: { form: {}, url: {} } };

export function newClient() {
  const client = new Client({ name: 'mcp-policy-e2e-ts-sdk', version: '1.0.0' }, { capabilities: CAPABILITIES });
  client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [] }));
  client.setRequestHandler(CreateMessageRequestSchema, () => {
    throw new Error('the e2e client does not sample');
  });
  client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'decline' }));
  return client;
}

/** Every tool name that `client` is shown, across pages, sorted. */
export async function listNames(client) {
  const names = [];
  let cursor;
  for (let page = 0; page < 100; page += 1) {
    const result = await client.listTools(cursor ? { cursor } : undefined);
    names.push(...result.tools.map((tool) => tool.name));
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return names.sort();
}

// The everything server asks a client that declares roots for them 350 ms
// after initialization, on the client's GET stream. The answer is a POST of
// the session, and any successful POST resets the SDK's once-per-challenge
// step-up guard (streamableHttp.js:380-382): a session waits for that exchange
// to be over before the steps, so that the steps see the SDK's behaviour, not
// a race. When the GET stream was not open yet the server's request is lost
// (its own comment says so, server/index.js): after a while nothing more is
// coming, and the session goes on.
const ROOTS_WAIT_MS = 3000;

function answeredRoots(entry) {
  return entry.method === 'POST' && entry.status !== undefined && /"result":\{"roots":/.test(entry.body ?? '');
}

export class Session {
  /** rootsRequest: the server asks for roots after initialize (the everything server). */
  constructor(url, provider, recorder, { sessionId, rootsRequest = false } = {}) {
    this.url = url;
    this.provider = provider;
    this.recorder = recorder;
    this.sessionId = sessionId;
    this.rootsRequest = rootsRequest;
  }

  async #settle() {
    const deadline = Date.now() + ROOTS_WAIT_MS;
    while (!this.recorder.log.some(answeredRoots)) {
      if (Date.now() > deadline) {
        this.rootsLost = true;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  #open() {
    this.client = newClient();
    this.transport = new StreamableHTTPClientTransport(new URL(this.url), {
      authProvider: this.provider,
      fetch: this.recorder.fetch,
      sessionId: this.sessionId,
    });
  }

  /**
   * Connects (initialize, unless joining an existing session). A first 401
   * sends the user through the browser (the provider's redirectToAuthorization);
   * the SDK then throws UnauthorizedError and the application finishes the
   * authorization with the code and connects again.
   */
  async connect() {
    this.#open();
    try {
      await this.client.connect(this.transport);
    } catch (error) {
      const code = error instanceof UnauthorizedError ? this.provider.takeCode?.() : undefined;
      if (!code) throw error;
      await this.transport.finishAuth(code);
      this.#open();
      await this.client.connect(this.transport);
    }
    if (this.rootsRequest && !this.sessionId) await this.#settle();
    return this;
  }

  /**
   * Runs `op` (a request in this session). When the SDK answers a 401/403 by
   * authorizing again, it throws UnauthorizedError after the redirect: the
   * application finishes that authorization and tries `op` again, at most
   * `authorizations` times (a client that may not loop).
   */
  async call(op, { authorizations = 1 } = {}) {
    for (let finished = 0; ; finished += 1) {
      try {
        return await op(this.client);
      } catch (error) {
        const code = error instanceof UnauthorizedError ? this.provider.takeCode?.() : undefined;
        if (!code || finished >= authorizations) throw error;
        await this.transport.finishAuth(code);
      }
    }
  }

  /** Ends the session (DELETE, as the SDK does it) unless it joined another's, then closes. */
  async close() {
    if (this.transport?.sessionId && !this.sessionId) await this.transport.terminateSession().catch(() => {});
    await this.client?.close().catch(() => {});
  }
}
