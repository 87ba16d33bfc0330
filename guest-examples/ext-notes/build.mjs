// Builds app.js into a component for the `domain-extension` world.
// Usage: node build.mjs [output.wasm]   (default ../out/ext-notes.wasm)
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, '../out/ext-notes.wasm'));

const { component, imports } = await componentize({
  sourcePath: resolve(here, 'app.js'),
  witPath: resolve(here, '../../wit'),
  worldName: 'domain-extension',
  // Every engine feature off: the component imports nothing but our own
  // package, so it reaches no clock, randomness or stdio behind the host's back.
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});

await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
console.log(`${out}: ${component.length} bytes; imports used: ${imports.map(([m, f]) => `${m}#${f}`).join(', ')}`);
