import { parentPort } from 'node:worker_threads';
import { inProcessDkimSigner, type DkimSigningKey } from '../core/dkim';
import { loadMailauth } from '../core/mailauth';

/** The thread behind DkimPool: DKIM signatures (canonicalization, the RSA signature) off the main thread. */
type Req = { id: number; raw: Uint8Array; key: DkimSigningKey; signTime: number };
loadMailauth(); // loaded when first used elsewhere; here before the pool starts timing
// loaded and listening: from now on the pool times its requests (a cold start is not a hang)
parentPort!.postMessage({ ready: true });
parentPort!.on('message', (req: Req) => {
  inProcessDkimSigner(Buffer.from(req.raw.buffer, req.raw.byteOffset, req.raw.byteLength), req.key, new Date(req.signTime)).then(
    (value) => parentPort!.postMessage({ id: req.id, value }),
    (err: Error) => parentPort!.postMessage({ id: req.id, error: err.message }),
  );
});
