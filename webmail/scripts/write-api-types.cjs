// `npm run api-types`: regenerates webmail/src/api/openapi.gen.ts from the built server (run after `npm run build:server`).
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..', '..');
const { routes } = require(join(root, 'dist', 'functions', 'http', 'routes.js'));
const { buildOpenApi } = require(join(root, 'dist', 'functions', 'openapi.js'));

import('./api-types.mjs').then(async ({ renderApiTypes }) => {
  const out = join(root, 'webmail', 'src', 'api', 'openapi.gen.ts');
  writeFileSync(out, await renderApiTypes(buildOpenApi(routes, '0.1.0')));
  process.stdout.write(`wrote ${out}\n`);
});
