// The suite's server scenarios that the everything server cannot pass by
// name, re-aimed at its own names (conformance.mjs runs them beside the suite).
//
// The conformance suite calls fixtures of its own test server
// (test_tool_with_progress, test://static-binary, test_prompt_with_arguments,
// ...) that @modelcontextprotocol/server-everything does not have, so against
// it those scenarios fail before they test anything, directly as through the
// proxy. Yet the everything server has the same features under its own names.
// Each entry below is one such scenario: the suite's client setup (an SDK
// Client declaring sampling and elicitation, one session a scenario) and the
// suite's own check, word for word where it applies, with the everything
// server's name and arguments. Steps are named `mapped/<suite scenario>`.
// These are the scenarios through which a token without mcp:write meets our
// denial: the write tools (progress, logging, sampling, elicitation).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

const problems = () => {
  const list = [];
  return { list, expect: (ok, message) => ok || list.push(message) };
};

// Each `run(client)` returns the list of problems (empty: the check passes).
export const MAPPED = [
  {
    scenario: 'tools-call-image',
    uses: 'get-tiny-image',
    run: async (client) => {
      const p = problems();
      const { content } = await client.callTool({ name: 'get-tiny-image', arguments: {} });
      const image = content?.find((c) => c.type === 'image');
      p.expect(image, 'No image content found');
      p.expect(!image || image.data, 'Image content missing data field');
      p.expect(!image || image.mimeType, 'Image content missing mimeType');
      return p.list;
    },
  },
  {
    scenario: 'tools-call-embedded-resource',
    uses: 'get-resource-reference',
    run: async (client) => {
      const p = problems();
      const { content } = await client.callTool({ name: 'get-resource-reference', arguments: { resourceType: 'Text', resourceId: 1 } });
      const embedded = content?.find((c) => c.type === 'resource');
      p.expect(embedded, 'No resource content found');
      p.expect(!embedded || embedded.resource?.uri, 'Resource missing uri field');
      p.expect(!embedded || embedded.resource?.mimeType, 'Resource missing mimeType field');
      p.expect(!embedded || embedded.resource?.text || embedded.resource?.blob, 'Resource missing both text and blob fields');
      return p.list;
    },
  },
  {
    scenario: 'tools-call-with-progress',
    uses: 'trigger-long-running-operation',
    run: async (client) => {
      const p = problems();
      const progress = [];
      await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.3, steps: 3 } }, undefined, {
        onprogress: (notification) => progress.push(notification.progress),
      });
      p.expect(progress.length >= 3, `Expected at least 3 progress notifications, got ${progress.length}`);
      p.expect(progress.every((value, i) => i === 0 || value > progress[i - 1]), `Progress not increasing: ${progress.join(',')}`);
      return p.list;
    },
  },
  {
    scenario: 'tools-call-with-logging',
    uses: 'toggle-simulated-logging',
    run: async (client) => {
      // The everything server logs every 5 s once toggled on (the suite's
      // fixture logs three times within the call): wait for three, 16 s at most.
      const p = problems();
      const logs = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => logs.push(notification));
      await client.setLoggingLevel('debug');
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      for (let waited = 0; logs.length < 3 && waited < 16_000; waited += 100) await new Promise((r) => setTimeout(r, 100));
      await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
      p.expect(logs.length >= 3, logs.length ? `Expected at least 3 log messages, got ${logs.length}` : 'No log notifications received');
      return p.list;
    },
  },
  {
    scenario: 'tools-call-sampling',
    uses: 'trigger-sampling-request',
    run: async (client) => {
      const p = problems();
      let asked = false;
      client.setRequestHandler(CreateMessageRequestSchema, async () => {
        asked = true;
        return { role: 'assistant', content: { type: 'text', text: 'This is a test response from the client' }, model: 'test-model', stopReason: 'endTurn' };
      });
      const { content } = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'Test prompt for sampling', maxTokens: 10 } });
      p.expect(asked, 'Server did not request sampling from client');
      p.expect(content?.length, 'Tool did not return content');
      p.expect(JSON.stringify(content ?? []).includes('This is a test response from the client'), 'The sampled text is not in the result');
      return p.list;
    },
  },
  {
    scenario: 'tools-call-elicitation',
    uses: 'trigger-elicitation-request',
    run: async (client) => {
      const p = problems();
      let asked = false;
      client.setRequestHandler(ElicitRequestSchema, async () => {
        asked = true;
        return { action: 'accept', content: { name: 'testuser' } };
      });
      const { content } = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
      p.expect(asked, 'Server did not request elicitation from client');
      p.expect(content?.length, 'Tool did not return content');
      p.expect(JSON.stringify(content ?? []).includes('testuser'), 'The elicited answer is not in the result');
      return p.list;
    },
  },
  {
    scenario: 'resources-read-text',
    uses: 'demo://resource/static/document/architecture.md',
    run: async (client) => {
      const p = problems();
      const { contents } = await client.readResource({ uri: 'demo://resource/static/document/architecture.md' });
      const first = contents?.[0];
      p.expect(first, 'contents array is empty');
      p.expect(!first || first.uri, 'Content missing uri');
      p.expect(!first || first.mimeType, 'Content missing mimeType');
      p.expect(!first || typeof first.text === 'string', 'Content missing text field');
      return p.list;
    },
  },
  {
    scenario: 'resources-read-binary',
    uses: 'demo://resource/dynamic/blob/1',
    run: async (client) => {
      const p = problems();
      const { contents } = await client.readResource({ uri: 'demo://resource/dynamic/blob/1' });
      const first = contents?.[0];
      p.expect(first, 'contents array is empty');
      p.expect(!first || first.uri, 'Content missing uri');
      p.expect(!first || first.mimeType, 'Content missing mimeType');
      p.expect(!first || first.blob, 'Content missing blob field');
      return p.list;
    },
  },
  {
    scenario: 'resources-templates-read',
    uses: 'demo://resource/dynamic/text/{resourceId}',
    run: async (client) => {
      const p = problems();
      const { resourceTemplates } = await client.listResourceTemplates();
      p.expect(resourceTemplates?.some((t) => t.uriTemplate === 'demo://resource/dynamic/text/{resourceId}'), 'The template is not listed');
      const { contents } = await client.readResource({ uri: 'demo://resource/dynamic/text/123' });
      const first = contents?.[0];
      p.expect(first?.uri, 'Content missing uri');
      p.expect(first && ('text' in first || 'blob' in first), 'Content missing text or blob');
      p.expect(typeof first?.text !== 'string' || first.text.includes('123'), 'Parameter substitution not reflected in content');
      return p.list;
    },
  },
  {
    scenario: 'prompts-get-simple',
    uses: 'simple-prompt',
    run: async (client) => {
      const p = problems();
      const { messages } = await client.getPrompt({ name: 'simple-prompt' });
      p.expect(messages?.length, 'messages array is empty');
      p.expect(messages?.every((m) => m.role && m.content), 'A message without role or content');
      return p.list;
    },
  },
  {
    scenario: 'prompts-get-with-args',
    uses: 'args-prompt',
    run: async (client) => {
      const p = problems();
      const { messages } = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'testValue1', state: 'testValue2' } });
      const text = JSON.stringify(messages ?? []);
      p.expect(messages?.length, 'messages array is empty');
      p.expect(text.includes('testValue1'), 'arg1 not substituted in prompt');
      p.expect(text.includes('testValue2'), 'arg2 not substituted in prompt');
      return p.list;
    },
  },
  {
    scenario: 'prompts-get-embedded-resource',
    uses: 'resource-prompt',
    run: async (client) => {
      const p = problems();
      const { messages } = await client.getPrompt({ name: 'resource-prompt', arguments: { resourceType: 'Text', resourceId: '1' } });
      const embedded = messages?.find((m) => m.content?.type === 'resource');
      p.expect(embedded, 'No embedded resource found in prompt');
      p.expect(!embedded || embedded.content.resource?.uri, 'Embedded resource missing uri');
      return p.list;
    },
  },
  {
    scenario: 'completion-complete',
    uses: 'completable-prompt',
    run: async (client) => {
      const p = problems();
      const { completion } = await client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } });
      p.expect(completion, 'Missing completion field');
      p.expect(Array.isArray(completion?.values), 'completion.values is not an array');
      p.expect(completion?.values?.includes('Engineering'), `Expected Engineering among ${JSON.stringify(completion?.values)}`);
      return p.list;
    },
  },
];

async function runOne(url, entry) {
  const id = `mapped/${entry.scenario}`;
  const client = new Client({ name: 'conformance-test-client', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  let check;
  try {
    await client.connect(transport);
    const list = await entry.run(client);
    check = list.length ? { id, status: 'FAILURE', errorMessage: list.join('; ') } : { id, status: 'SUCCESS' };
  } catch (error) {
    check = { id, status: 'FAILURE', errorMessage: `Failed: ${error?.message ?? error}` };
  } finally {
    // Unlike the suite's client, end the session (a stdio child each).
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
  check.description = `the suite's ${entry.scenario} check on the everything server's ${entry.uses}`;
  return [id, [check]];
}

// Every mapped scenario against `url`, a few sessions at a time; answers
// [[step, checks], ...] in MAPPED's order.
export async function runMapped(url, parallel = 4) {
  const out = new Array(MAPPED.length);
  let next = 0;
  const worker = async () => {
    while (next < MAPPED.length) {
      const i = next++;
      out[i] = await runOne(url, MAPPED[i]);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return out;
}
