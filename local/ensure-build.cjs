// `npm start` runs this first: build when dist/ is missing or older than any source file.
const { statSync, readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');

const root = join(__dirname, '..');
const entry = join(root, 'dist', 'local', 'main.js');
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const sources = ['core', 'adapters', 'smtp-edge', 'functions', 'local', 'bench'].map((d) => join(root, d)).filter(existsSync);
const built = existsSync(entry) ? statSync(entry).mtimeMs : 0;
if (!built || Math.max(...sources.map(newest)) > built) {
  process.stdout.write('Building (tsc)...\n');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
}
