import { authenticate, json, type RouteDef } from '../http-kit';

/**
 * GET /api/health: liveness plus each adapter's readiness; 503 when one is not ready.
 * Anyone may ask (monitors, load balancers); why the transport is misconfigured (in a
 * relay's or SendGrid's own words) is told to an administrator's token only.
 */
export const health: RouteDef = {
  name: 'health',
  methods: ['GET'],
  route: 'health',
  auth: 'none',
  doc: { summary: "Liveness and each adapter's readiness", success: { status: 200, description: '{status, checks}' }, errors: ['TemporaryFailure'] },
  async handler(app, req) {
    const check = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        () => 'unavailable',
      );
    const [store, blobs, queue, outboundQueue] = await Promise.all([check(app.store.ping()), check(app.blobs.ping()), check(app.queue.ping()), check(app.sending.outboundQueue.ping())]);
    // the transport as this process last saw it: 'none' is a choice (mail to other domains is held), 'misconfigured' is not
    const transport = app.sending.transport.health();
    const checks = { store, blobs, queue, outboundQueue, outbound: transport.status };
    const ok = [store, blobs, queue, outboundQueue].every((v) => v === 'ok') && transport.status !== 'misconfigured';
    const told = transport.status !== 'misconfigured' || (req.headers.has('authorization') && (await authenticate(app, req.headers).then((p) => p.role === 'admin', () => false)));
    return json(ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', checks, outbound: { transport: app.sending.transport.name, status: transport.status, detail: told ? transport.detail : null } });
  },
};
