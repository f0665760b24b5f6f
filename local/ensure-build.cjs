// `npm start` runs this first: build what is missing or older than its sources:
// the server (tsc → dist/) and the webmail (vite → webmail/dist/, served at /).
const { statSync, readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');
const { buildWebmail } = require('./webmail-build.cjs');

const root = join(__dirname, '..');
function newest(dir, test) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist') t = Math.max(t, newest(p, test));
    } else if (test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const builtAt = (file) => (existsSync(file) ? statSync(file).mtimeMs : 0);

const entry = join(root, 'dist', 'local', 'main.js');
const sources = ['core', 'adapters', 'smtp-edge', 'functions', 'local', 'bench'].map((d) => join(root, d)).filter(existsSync);
const built = builtAt(entry);
if (!built || Math.max(...sources.map((d) => newest(d, (name) => name.endsWith('.ts')))) > built) {
  process.stdout.write('Building the server (tsc)...\n');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
}

// the webmail: everything under webmail/ (sources, index.html, public/, its config) and the
// server's domain types it is checked against
const webmail = join(root, 'webmail');
const page = join(webmail, 'dist', 'index.html');
const pageBuilt = builtAt(page);
const webmailSources = Math.max(existsSync(webmail) ? newest(webmail, () => true) : 0, builtAt(join(root, 'core', 'types.ts')), builtAt(join(root, 'package-lock.json')));
if (!pageBuilt || webmailSources > pageBuilt) {
  process.stdout.write('Building the webmail (vite)...\n');
  buildWebmail();
}
