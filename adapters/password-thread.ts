import { parentPort } from 'node:worker_threads';
import { inProcessPasswords } from '../core/auth';

/** The thread behind PasswordPool: bcrypt, one request at a time, off the main thread. */
type Req = { id: number; op: 'hash' | 'verify' | 'burn'; password: string; hash?: string };
// loaded and listening: from now on the pool times its requests (a cold start is not a hang)
parentPort!.postMessage({ ready: true });
parentPort!.on('message', (req: Req) => {
  const work = req.op === 'hash' ? inProcessPasswords.hash(req.password) : req.op === 'verify' ? inProcessPasswords.verify(req.password, req.hash ?? '') : inProcessPasswords.burn(req.password);
  work.then(
    (value) => parentPort!.postMessage({ id: req.id, value }),
    (err: Error) => parentPort!.postMessage({ id: req.id, error: err.message }),
  );
});
