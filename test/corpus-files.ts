import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The project's own copy of the corpus (with its SOURCES.md and LICENSES/): a lone clone tests itself. */
export const CORPUS = resolve(__dirname, 'fixtures', 'corpus');

/** Every message (.eml) of the corpus, sorted; none when the folder is missing (tests check the count). */
export function corpusFiles(dir = CORPUS): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'LICENSES') out.push(...corpusFiles(path));
    } else if (name.endsWith('.eml')) out.push(path);
  }
  return out.sort();
}
