import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../core/node-flags';
import { waitFor } from './helpers';

const root = resolve(__dirname, '..');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const portOpen = (port: number) =>
  new Promise<boolean>((done) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), done(true)));
    s.once('error', () => done(false));
  });

describe('npm start in the background', () => {
  it('a kill of the npm process stops the server (both ports closed); the server wrote its own PID into the data folder', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-lifecycle-'));
    // as README says: `npm start &`, then `kill` of the process the shell shows (npm's)
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...process.env, NIMBUS_DATA_DIR: dataDir, NIMBUS_SMTP_PORT: '0', NIMBUS_SUBMISSION_PORT: '0', NIMBUS_SUBMISSION_TLS_PORT: '0', NIMBUS_HTTP_PORT: '0', NIMBUS_LOG_LEVEL: 'silent', NIMBUS_HOSTNAME: 'mx.test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    try {
      const banner = await waitFor(() => /SMTP {2}127\.0\.0\.1:(\d+)\n {2}HTTP {2}http:\/\/127\.0\.0\.1:(\d+)/.exec(out) ?? undefined, 60_000);
      const [smtpPort, httpPort] = [Number(banner[1]), Number(banner[2])];
      const pidFile = join(dataDir, 'nimbus.pid');
      const serverPid = Number(readFileSync(pidFile, 'utf8'));
      expect(serverPid).not.toBe(npm.pid); // the server is npm's grandchild, not npm
      expect(alive(serverPid)).toBe(true);
      // with the Node flags the server is meant to run with (core/node-flags.ts)
      const argv = readFileSync(`/proc/${serverPid}/cmdline`, 'utf8').split('\0');
      expect(argv.slice(1, -1)).toEqual(expect.arrayContaining([...SERVER_NODE_FLAGS]));
      expect(await portOpen(smtpPort)).toBe(true);
      expect(await portOpen(httpPort)).toBe(true);

      npm.kill('SIGTERM');
      await waitFor(() => (alive(serverPid) ? undefined : true), 15_000);
      expect(await portOpen(smtpPort)).toBe(false);
      expect(await portOpen(httpPort)).toBe(false);
      expect(existsSync(pidFile)).toBe(false); // a clean stop removes it
    } finally {
      npm.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('the systemd unit in README', () => {
  it('starts the server as npm start does: the same Node flags, the same entry', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
    const start = pkg.scripts.start.split(' ');
    expect(start).toEqual(['node', ...SERVER_NODE_FLAGS, 'dist/local/main.js']);
    const execStart = /^ExecStart=(.+)$/m.exec(readFileSync(join(root, 'README.md'), 'utf8'));
    expect(execStart?.[1].split(' ')).toEqual(['/usr/bin/node', ...start.slice(1)]);
  });
});
