import { json, type RouteDef } from '../http-kit';

/** GET /api/health: liveness plus each adapter's readiness; 503 when one is not ready. */
export const health: RouteDef = {
  name: 'health',
  methods: ['GET'],
  route: 'health',
  auth: 'none',
  doc: { summary: "Liveness and each adapter's readiness", success: { status: 200, description: '{status, checks}' }, errors: ['TemporaryFailure'] },
  async handler(app) {
    const check = (p: Promise<unknown>) =>
      p.then(
        () => 'ok',
        () => 'unavailable',
      );
    const [store, blobs, queue] = await Promise.all([check(app.store.ping()), check(app.blobs.ping()), check(app.queue.ping())]);
    const checks = { store, blobs, queue };
    const ok = Object.values(checks).every((v) => v === 'ok');
    return json(ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', checks });
  },
};
