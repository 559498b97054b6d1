import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The built app is committed under ../hachi/static (inside the package, so `pip install .`
// carries it) so that running Hachi needs no Node.js.
// No inline scripts or styles end up in index.html: Caddy's CSP forbids them.
export default defineConfig({
  plugins: [svelte()],
  base: '/',
  build: {
    outDir: '../hachi/static',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    target: 'es2022',
  },
  server: {
    // `npm run dev` talks to a running `hachi serve` on HACHI_PORT (default 8686).
    proxy: { '/api': `http://127.0.0.1:${process.env.HACHI_PORT || 8686}` },
  },
});
