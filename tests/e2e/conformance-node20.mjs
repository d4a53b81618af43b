// Preloaded (`node --import`) by conformance.mjs before the conformance CLI on
// Node < 22. @modelcontextprotocol/conformance 0.1.16 imports `globSync`
// from `fs` at the top of its one bundled file, and `fs.globSync` exists
// from Node 22 on: on Node 20 the whole CLI fails to link. Only its
// `tier-check` command calls globSync, and the server scenarios never do, so
// this hook hands that one import an `fs` with a globSync that throws if it is
// ever called. Nothing else of the suite is touched.
import { register } from 'node:module';
import * as fs from 'node:fs';

if (typeof fs.globSync !== 'function') {
  const shim = `data:text/javascript,${encodeURIComponent(
    "export * from 'node:fs'; export function globSync() { throw new Error('fs.globSync needs Node 22'); }",
  )}`;
  const hook = `export async function resolve(specifier, context, next) {
    if ((specifier === 'fs' || specifier === 'node:fs') && context.parentURL?.includes('/@modelcontextprotocol/conformance/')) {
      return { url: ${JSON.stringify(shim)}, shortCircuit: true };
    }
    return next(specifier, context);
  }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
}
