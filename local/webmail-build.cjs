// Builds the webmail (webmail/ → webmail/dist/) with Vite. `npm run build` and `npm start`
// (through ensure-build.cjs) run it. Skipped where there is no webmail/ to build: the Function
// App's remote build in Azure gets no webmail/ (.funcignore; the webmail is hosted on its own).
const { existsSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { execFileSync } = require('node:child_process');

const root = join(__dirname, '..');
const config = join(root, 'webmail', 'vite.config.mts');

/** Builds; returns false (and says why) when it cannot here. */
function buildWebmail() {
  if (!existsSync(config)) {
    process.stdout.write('No webmail/ here: the webmail is not built.\n');
    return false;
  }
  let vite;
  try {
    vite = join(dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  } catch {
    process.stdout.write('The webmail cannot be built: vite is not installed (run `npm install`). The API works meanwhile.\n');
    return false;
  }
  execFileSync(process.execPath, [vite, 'build', '--config', config, '--logLevel', 'warn'], { stdio: 'inherit', cwd: root });
  return true;
}

module.exports = { buildWebmail };
if (require.main === module) buildWebmail();
