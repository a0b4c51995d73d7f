// Cross-origin isolation for static hosts that cannot send COOP/COEP headers. The page's CPU
// module runs on every core through wasm threads, which need SharedArrayBuffer, which a
// browser gives only to a cross-origin isolated page. `make serve`, `npm run dev` and the
// tests' server send the headers; elsewhere the page registers coi-serviceworker.js (npm
// `coi-serviceworker`, MIT; shipped next to the page by vite.config.ts), a service worker
// that adds them to every response, and reloads once so that it takes effect. Not in a frame
// (a framed page is isolated only if the page around it is, which slides are not), not
// without a secure context or service workers (some private windows): there the page runs
// on one thread, and the header says why (worker.ts, `cpuEngine`).

const RELOADED = 'scorelab-coi-reloaded';

/** Register the service worker where it can isolate the page; reload (once) when it must. */
export function isolateWithServiceWorker(): void {
  if (window.crossOriginIsolated !== false || window.self !== window.top || !window.isSecureContext) return;
  const sw = navigator.serviceWorker;
  if (!sw) return;
  const reloadOnce = () => {
    // a browser that keeps the page unisolated under the worker must not loop
    if (sessionStorage.getItem(RELOADED)) return;
    sessionStorage.setItem(RELOADED, '1');
    location.reload();
  };
  sw.register('./coi-serviceworker.js').then(
    (registration) => {
      if (!registration) return;
      // first install: reload when it is in place; installed but not yet in control: now
      registration.addEventListener('updatefound', () => {
        registration.installing?.addEventListener('statechange', (e) => {
          if ((e.target as ServiceWorker).state === 'activated') reloadOnce();
        });
      });
      if (registration.active && !sw.controller) reloadOnce();
    },
    () => undefined, // refused (blocked, private window): one thread
  );
}
