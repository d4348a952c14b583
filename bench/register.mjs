// Runs the bench's TypeScript on Node 20 without a build step: `node --import ./bench/register.mjs bench/run.ts`.
// The hooks strip types with the project's own TypeScript and map `./x.js` imports to `./x.ts` (NodeNext style).
import { register } from 'node:module'

register('./ts-hooks.mjs', import.meta.url)
