import { HttpRequest } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { LocalHttpRequest } from './local-request';

/** The same request both ways: @azure/functions' HttpRequest (undici underneath) and the local host's. */
function both(body: Buffer | null, headers: Record<string, string> = {}, method = 'POST'): [HttpRequest, HttpRequest] {
  const url = 'http://localhost/api/mails/m1?cursor=abc&limit=5';
  const query = { cursor: 'abc', limit: '5' };
  const params = { id: 'm1' };
  return [
    new HttpRequest({ method, url, headers, query, params, body: body ? { bytes: body } : undefined }),
    new LocalHttpRequest(method, url, new Headers(headers), new URLSearchParams(query), params, body),
  ];
}

/** What a body read gives, or the error's type when it fails. */
const outcome = (p: Promise<unknown>) => p.then((value) => ({ value }), (err: Error) => ({ error: err.constructor.name }));

describe('LocalHttpRequest reads as the Functions HttpRequest does', () => {
  const bodies: Array<[string, Buffer]> = [
    ['JSON', Buffer.from(JSON.stringify({ to: ['a@example.com'], subject: 'Grüße 😀', text: 'x'.repeat(5000) }))],
    ['JSON after a byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')])],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d])],
    ['not JSON', Buffer.from('{"a":')],
    ['whitespace', Buffer.from('  \r\n')],
  ];
  it.each(bodies)('text(), json() and arrayBuffer() of %s', async (_name, body) => {
    for (const read of ['text', 'json', 'arrayBuffer'] as const) {
      const [theirs, ours] = both(body, { 'content-type': 'application/json' });
      const [a, b] = [await outcome(theirs[read]()), await outcome(ours[read]())];
      if (read === 'arrayBuffer' && 'value' in a && 'value' in b) expect(Buffer.from(b.value as ArrayBuffer)).toEqual(Buffer.from(a.value as ArrayBuffer));
      else expect(b).toEqual(a);
      // a body is read once
      expect(theirs.bodyUsed).toBe(true);
      expect(ours.bodyUsed).toBe(true);
      expect(await outcome(ours.text())).toEqual(await outcome(theirs.text()));
    }
  });

  it('no body: null, and reads give what the original gives', async () => {
    const [theirs, ours] = both(null, {}, 'GET');
    expect(ours.body).toBe(theirs.body);
    expect(await outcome(ours.text())).toEqual(await outcome(theirs.text()));
    const [theirs2, ours2] = both(null, {}, 'GET');
    expect(await outcome(ours2.json())).toEqual(await outcome(theirs2.json()));
  });

  it('formData() of a multipart upload: the same fields and files', async () => {
    const form = new FormData();
    form.append('to', 'a@example.com');
    form.append('subject', 'files');
    form.append('file', new Blob([Buffer.from('%PDF-1.4 bytes')], { type: 'application/pdf' }), 'report.pdf');
    const encoded = new Request('http://localhost/', { method: 'POST', body: form });
    const body = Buffer.from(await encoded.arrayBuffer());
    const headers = { 'content-type': encoded.headers.get('content-type')! };
    const [theirs, ours] = both(body, headers);
    const [a, b] = [await theirs.formData(), await ours.formData()];
    const entries = async (f: FormData) => Promise.all([...f.entries()].map(async ([k, v]) => [k, typeof v === 'string' ? v : { name: v.name, type: v.type, text: await v.text() }]));
    expect(await entries(b)).toEqual(await entries(a));
    expect((await entries(b)).length).toBe(3);
  });

  it('headers, query, params, method, url and user as given', () => {
    const [theirs, ours] = both(Buffer.from('{}'), { Authorization: 'Bearer t', 'X-Forwarded-For': '10.0.0.1' });
    expect(ours.headers.get('authorization')).toBe(theirs.headers.get('authorization'));
    expect(ours.headers.get('x-forwarded-for')).toBe('10.0.0.1');
    expect(ours.headers.has('if-match')).toBe(theirs.headers.has('if-match'));
    expect([...ours.query.entries()]).toEqual([...theirs.query.entries()]);
    expect(ours.params).toEqual(theirs.params);
    expect([ours.method, ours.url, ours.user]).toEqual([theirs.method, theirs.url, theirs.user]);
  });

  it('the body as a stream: looking at it uses nothing, reading it uses the body', async () => {
    const [theirs, ours] = both(Buffer.from('{"a":1}'));
    for (const req of [theirs, ours]) {
      expect(req.body).not.toBeNull();
      expect(req.bodyUsed).toBe(false);
    }
    expect(await ours.json()).toEqual(await theirs.json());
    const [theirs2, ours2] = both(Buffer.from('stream me'));
    const read = async (req: HttpRequest) => Buffer.from(await new Response(req.body).arrayBuffer()).toString();
    expect(await read(ours2)).toBe(await read(theirs2));
    expect(ours2.bodyUsed).toBe(theirs2.bodyUsed);
    expect(await outcome(ours2.text())).toEqual(await outcome(theirs2.text()));
  });

  it('clone() reads the same body again; a used body cannot be cloned', async () => {
    const [, ours] = both(Buffer.from('{"a":1}'));
    const copy = ours.clone();
    expect(await ours.json()).toEqual({ a: 1 });
    expect(await copy.text()).toBe('{"a":1}');
    expect(() => ours.clone()).toThrow(TypeError);
  });
});
