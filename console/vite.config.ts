// Built into the Python package, served by the router at /console/ (src/dydx_router/api/console.py).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/console/",
  build: {
    outDir: "../src/dydx_router/api/console_static",
    emptyOutDir: true,
    assetsDir: "assets",
    // No inline scripts or data: URLs for scripts: the page's CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2020",
  },
});
