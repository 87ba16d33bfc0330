// Builds app.js into a component for the `region-script` world of wit/.
// Usage: node build.mjs OUTPUT.wasm   (run by `dispatcher script build`)
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? resolve(here, '{{name}}.wasm'));
const { component } = await componentize({
  sourcePath: resolve(here, 'app.js'),
  witPath: resolve(here, 'wit'),
  worldName: 'region-script',
  // No engine features: the component imports only the opensim:dispatcher
  // package, which is all the host allows a script.
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await mkdir(dirname(out), { recursive: true });
await writeFile(out, component);
console.log(`${out}: ${component.length} bytes`);
