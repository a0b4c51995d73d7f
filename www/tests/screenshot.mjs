// The README's screenshot: the 2-D lab on ring8 after a run, with the exact score and the
// density (its colour bar), the legend and the downloads. `node www/tests/screenshot.mjs`
// after `make page`; writes docs/screenshot.png.
import { open, finish } from './harness.mjs';

const { page } = await open('#backend=cpu', { width: 1280, height: 900 });
await page.click('#introClose');
await page.evaluate(() => window.scorelab.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 300 }, n: 1500, seed: 1, denoise: true }));
await page.evaluate(() => window.scorelab.run());
await page.evaluate(() => window.scorelab.overlays({ exact: true, density: true, t: 0.05 }));
await page.waitForFunction(() => document.getElementById('plot').dataset.heatScale);
const box = await page.locator('#lab').boundingBox();
await page.screenshot({ path: 'docs/screenshot.png', clip: { x: box.x, y: box.y, width: Math.min(box.width, 900), height: 800 } });
await page.close();
await finish('screenshot');
