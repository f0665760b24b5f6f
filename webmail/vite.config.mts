import react from '@vitejs/plugin-react';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, loadEnv, type Plugin } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const security = JSON.parse(readFileSync(new URL('./security-headers.json', import.meta.url), 'utf8')) as { contentSecurityPolicy: string[]; headers: Record<string, string> };

/**
 * Azure Static Web Apps read staticwebapp.config.json from the site's root: deep links
 * answer index.html (not the hashed assets), the same security headers as the local
 * host, and the API's origin allowed in connect-src when the API is on another host
 * (VITE_NIMBUS_API_URL, the Function App). The local host ignores the file.
 */
function staticWebAppConfig(apiUrl: string): Plugin {
  return {
    name: 'nimbus-static-web-app-config',
    apply: 'build',
    generateBundle() {
      const apiOrigin = apiUrl ? new URL(apiUrl).origin : '';
      const csp = security.contentSecurityPolicy.map((d) => (apiOrigin && d.startsWith('connect-src') ? `${d} ${apiOrigin}` : d)).join('; ');
      const config = {
        navigationFallback: { rewrite: '/index.html', exclude: ['/assets/*', '/favicon.svg'] },
        globalHeaders: { 'content-security-policy': csp, ...security.headers },
        routes: [{ route: '/assets/*', headers: { 'cache-control': 'public, max-age=31536000, immutable' } }],
      };
      this.emitFile({ type: 'asset', fileName: 'staticwebapp.config.json', source: JSON.stringify(config, null, 2) + '\n' });
    },
  };
}

/**
 * The webmail build: `npm run build:webmail` writes webmail/dist, which the local host
 * serves at /. `npm run dev:webmail` serves it with hot reload, the API proxied to a
 * running `npm start` on port 3000. VITE_NIMBUS_API_URL (for example
 * https://<app>.azurewebsites.net/api) points the app at an API on another origin;
 * unset, it calls /api on its own origin.
 */
export default defineConfig(({ mode }) => {
  const apiUrl = loadEnv(mode, here, 'VITE_').VITE_NIMBUS_API_URL ?? '';
  return {
    root: here,
    base: '/',
    plugins: [react(), staticWebAppConfig(apiUrl)],
    build: {
      outDir: 'dist',
      emptyOutDir: true,
      target: 'es2022',
      sourcemap: false,
      reportCompressedSize: false,
    },
    server: { proxy: { '/api': 'http://127.0.0.1:3000' } },
  };
});
