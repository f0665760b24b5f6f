import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium (`apt-get install chromium`; `.ci/run` installs it) driven by
 * playwright-core: no browser download. Headless, each launch on a fresh temporary
 * profile (playwright makes one per launch), with the flags that keep it off the
 * network. Shared by the browser tests and the bench.
 */
export const CHROMIUM = process.env.NIMBUS_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export const chromiumInstalled = () => existsSync(CHROMIUM);

export async function launchChromium(): Promise<Browser> {
  if (!chromiumInstalled()) throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (.ci/run does), or set NIMBUS_CHROMIUM`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}
