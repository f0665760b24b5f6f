/**
 * A reader for the subset of Bicep that infra/ uses, for tests that compare the
 * templates with the code (the Bicep CLI cannot be installed here). It reads literal
 * values (objects, arrays, strings, numbers, booleans) into JavaScript and keeps every
 * other expression as `{ expr }` text. It throws on text it cannot read, so a test
 * never passes on a file it did not understand.
 */
export type BicepValue = string | number | boolean | null | BicepValue[] | { [key: string]: BicepValue } | { expr: string };

export function isExpr(v: BicepValue | undefined): v is { expr: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { expr?: unknown }).expr === 'string';
}

/** The text with comments blanked (same length, so positions stay), strings left alone. */
export function stripComments(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    if (text.startsWith("'''", i)) {
      const end = text.indexOf("'''", i + 3);
      if (end < 0) throw new Error(`unterminated ''' string at ${i}`);
      out += text.slice(i, end + 3);
      i = end + 3;
    } else if (text[i] === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== "'") j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw new Error(`unterminated string at ${i}`);
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (text.startsWith('//', i)) {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw new Error(`unterminated comment at ${i}`);
      out += text.slice(i, end + 2).replace(/[^\n]/g, ' ');
      i = end + 2;
    } else {
      out += text[i];
      i++;
    }
  }
  return out;
}

class Reader {
  constructor(
    private readonly text: string,
    public pos: number,
  ) {}

  private skip(newlines: boolean) {
    const ws = newlines ? /[\s,]/ : /[ \t\r]/;
    while (this.pos < this.text.length && ws.test(this.text[this.pos])) this.pos++;
  }

  private fail(what: string): never {
    const line = this.text.slice(0, this.pos).split('\n').length;
    throw new Error(`Bicep text not understood at line ${line}: ${what}`);
  }

  value(): BicepValue {
    this.skip(false);
    const c = this.text[this.pos];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === "'" && !this.text.startsWith("'''", this.pos)) {
      const start = this.pos;
      const raw = this.string();
      // a lone literal ends the value; a string in an expression (a ternary, a call) makes it an expression
      if (/^[ \t\r]*(\n|[}\]])/.test(this.text.slice(this.pos))) return raw.includes('${') ? { expr: this.text.slice(start, this.pos) } : unescape(raw);
      this.pos = start;
    }
    return this.expression();
  }

  private string(): string {
    let j = this.pos + 1;
    while (j < this.text.length && this.text[j] !== "'") j += this.text[j] === '\\' ? 2 : 1;
    const raw = this.text.slice(this.pos + 1, j);
    this.pos = j + 1;
    return raw;
  }

  /** Anything else up to the end of its line, brackets balanced (a call or ternary may span lines). */
  private expression(): BicepValue {
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === "'") {
        this.string();
        continue;
      }
      if (c === '(' || c === '[' || c === '{') depth++;
      if (c === ')' || c === ']' || c === '}') {
        if (depth === 0) break;
        depth--;
      }
      if (c === '\n' && depth === 0 && !/^\s*[?:]/.test(this.text.slice(this.pos + 1))) break;
      this.pos++;
    }
    const raw = this.text.slice(start, this.pos).trim();
    if (!raw) this.fail('a value expected');
    if (/^-?\d+$/.test(raw)) return Number(raw);
    if (raw === 'true' || raw === 'false') return raw === 'true';
    if (raw === 'null') return null;
    return { expr: raw };
  }

  private object(): { [key: string]: BicepValue } {
    this.pos++; // {
    const out: { [key: string]: BicepValue } = {};
    for (;;) {
      this.skip(true);
      if (this.text[this.pos] === '}') {
        this.pos++;
        return out;
      }
      let key: string;
      if (this.text[this.pos] === "'") key = unescape(this.string());
      else {
        const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.pos));
        if (!m) this.fail('a key expected');
        key = m[0];
        this.pos += key.length;
      }
      this.skip(false);
      if (this.text[this.pos] !== ':') this.fail(`':' expected after ${key}`);
      this.pos++;
      if (key in out) this.fail(`key ${key} twice`);
      out[key] = this.value();
    }
  }

  private array(): BicepValue[] {
    this.pos++; // [
    const out: BicepValue[] = [];
    for (;;) {
      this.skip(true);
      if (this.text[this.pos] === ']') {
        this.pos++;
        return out;
      }
      if (this.text.startsWith('for ', this.pos)) this.fail('a for-expression is not a literal array');
      out.push(this.value());
    }
  }
}

function unescape(raw: string): string {
  return raw.replace(/\\(.)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r' })[c] ?? c);
}

/** The value after `var <name> =`. */
export function readVar(text: string, name: string): BicepValue {
  const clean = stripComments(text);
  const m = new RegExp(`^var ${name}\\s*=\\s*`, 'm').exec(clean);
  if (!m) throw new Error(`no var ${name}`);
  return new Reader(clean, m.index + m[0].length).value();
}

/** The bodies of the resources of a type (`resource x '<type>@<version>' = { ... }`). */
export function readResources(text: string, type: string): Array<{ symbol: string; apiVersion: string; body: { [key: string]: BicepValue } }> {
  const clean = stripComments(text);
  const out = [];
  const re = /^resource (\w+) '([^'@]+)@([^']+)'(?: existing)? = (?:if \([^\n]*\) |\[\s*for [^\n]*?: )?\{/gm;
  for (let m = re.exec(clean); m; m = re.exec(clean)) {
    if (m[2] !== type) continue;
    const body = new Reader(clean, m.index + m[0].length - 1).value();
    if (typeof body !== 'object' || body === null || Array.isArray(body) || isExpr(body)) throw new Error(`resource ${m[1]} not read`);
    out.push({ symbol: m[1], apiVersion: m[3], body: body as { [key: string]: BicepValue } });
  }
  return out;
}

/** Every `module x '<path>' = { ... }` with its params object. */
export function readModules(text: string): Array<{ symbol: string; path: string; params: { [key: string]: BicepValue } }> {
  const clean = stripComments(text);
  const out = [];
  const re = /^module (\w+) '([^']+)' = (?:if \([^\n]*\) )?\{/gm;
  for (let m = re.exec(clean); m; m = re.exec(clean)) {
    const body = new Reader(clean, m.index + m[0].length - 1).value() as { [key: string]: BicepValue };
    const params = body.params ?? {};
    if (typeof params !== 'object' || params === null || Array.isArray(params) || isExpr(params)) throw new Error(`module ${m[1]}: params not an object`);
    out.push({ symbol: m[1], path: m[2], params: params as { [key: string]: BicepValue } });
  }
  return out;
}

export interface BicepParam {
  name: string;
  type: string;
  hasDefault: boolean;
  decorators: string[];
}

/** Every `param` with its decorators (the lines of @... right above it). */
export function readParams(text: string): BicepParam[] {
  const lines = stripComments(text).split('\n');
  const out: BicepParam[] = [];
  lines.forEach((line, i) => {
    const m = /^param (\w+) ([\w[\]]+)(\s*=)?/.exec(line);
    if (!m) return;
    const decorators: string[] = [];
    let depth = 0;
    for (let j = i - 1; j >= 0; j--) {
      const l = lines[j].trim();
      if (!l) break;
      // multi-line decorators (@allowed([...]), @metadata({...})): walk up to their opening line
      depth += (l.match(/[\])}]/g) ?? []).length - (l.match(/[[({]/g) ?? []).length;
      if (depth > 0) continue;
      if (!l.startsWith('@')) break;
      decorators.unshift(l);
    }
    out.push({ name: m[1], type: m[2], hasDefault: Boolean(m[3]), decorators });
  });
  return out;
}

/** Every `output <name> <type> = ...`. */
export function readOutputs(text: string): Array<{ name: string; type: string }> {
  return [...stripComments(text).matchAll(/^output (\w+) ([\w[\]]+) =/gm)].map((m) => ({ name: m[1], type: m[2] }));
}

/** Names declared with `var`. */
export function readVarNames(text: string): string[] {
  return [...stripComments(text).matchAll(/^var (\w+)\s*=/gm)].map((m) => m[1]);
}
