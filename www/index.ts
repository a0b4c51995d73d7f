// The page's entry: isolate the page where a service worker can (wasm threads), start the
// lab (main.ts) and install window.scorelab (api.ts).
import { Playground } from './main';
import { installApi } from './api';
import { isolateWithServiceWorker } from './isolate';

isolateWithServiceWorker();
const pg = new Playground();
installApi(pg);
pg.start().catch((e) => pg.showError(`failed to start: ${(e as Error).message ?? e}`));
