import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

// A thread's entry: compiled JavaScript in production; the TypeScript sources (tests run
// them unbuilt) go through the compiler's transpiler, module by module.
const SHIM = `
const { workerData } = require('node:worker_threads');
if (workerData.__fromSource) {
  const ts = require('typescript');
  const fs = require('node:fs');
  require.extensions['.ts'] = (module, filename) => {
    const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: filename,
    });
    module._compile(out.outputText, filename);
  };
}
require(workerData.__entry);
`;

/**
 * Starts a worker thread running `<dir>/<name>.js`, or `<name>.ts` when the caller
 * itself runs from TypeScript sources (`callerFile` ends in .ts).
 */
export function startThread(dir: string, name: string, callerFile: string, workerData: Record<string, unknown>, resourceLimits?: { maxYoungGenerationSizeMb?: number }): Worker {
  const fromSource = callerFile.endsWith('.ts');
  return new Worker(SHIM, {
    eval: true,
    workerData: { ...workerData, __entry: join(dir, `${name}${fromSource ? '.ts' : '.js'}`), __fromSource: fromSource },
    resourceLimits,
  });
}
