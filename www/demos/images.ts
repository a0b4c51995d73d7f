// Demo: the image lab (../demos.ts opens and closes demos).
import { Remote, measureBackends, measureText, probeWebGpu, stepText, type Session, type StepInfo } from '../wasm';
import { drawDigits } from '../plot';
import { el, labelled, look, canvas, frame, latest, demoState, demoHooks, type ImageModel } from './shared';

export async function images(root: HTMLElement, labBackend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote, judgeRemote: Remote, model?: ImageModel, auto = false): Promise<void> {
  root.append(
    el('h2', {}, 'Image lab: the notebook U-Net on MNIST'),
    el('p', {}, 'The shipped model (models/mnist-unet-ve.safetensors, VE σ = 25) samples 16 digits; every step is drawn, from noise to digits. Draw a digit in the pad (ink = 1, as in MNIST) and ask for its bits/dim: the probability-flow ODE likelihood with one Hutchinson probe, after 8-bit quantisation and uniform dequantisation, as `scorelab likelihood --bpd`, of p_ε at the model’s smallest training time ε = 1e-7 (1.75-1.80 bits/dim on average over the 1,000 held-out MNIST digits with this model, none above 4; pure noise scores far worse). The model’s denoiser x + σ²s is kept in the pixel range [0, 1], as in `scorelab`.'),
    look('The digits form from the coarse shape down to the strokes: at large t only the overall blob is decided, fine detail appears last. Your own digit\'s bits/dim is near the average (about 1.8) when it looks like MNIST (white on black, centred, thick strokes) and higher for anything else: the number is how many bits per pixel the model needs to encode the picture.'),
    look('Pick a digit and the class-conditional model draws it with classifier-free guidance: at w = 0 the digits are that class’s own, varied and sometimes ambiguous; as w grows they become more typical and more alike (guidance trades diversity for fidelity; the README’s table counts how often a classifier agrees at w = 0, 1, 3, 7).'),
  );
  const sampler = el('select', { id: 'imgSampler', title: 'pc: predictor–corrector; em: Euler–Maruyama on the reverse SDE; ode: the probability-flow ODE (RK4); ddim: DDIM (η = 0); edm: EDM’s Heun steps (2 evaluations each); dpmpp-2m: DPM-Solver++(2M), good digits from about 20 steps' });
  for (const s of ['pc', 'em', 'ode', 'ddim', 'edm', 'dpmpp-2m']) sampler.add(new Option(s, s));
  const steps = el('input', { type: 'number', value: '100', min: '10', max: '2000', id: 'imgSteps', title: 'N, the time steps from t = 1 to ε (10 to 2000): more steps, better digits, more time' });
  // classifier-free guidance: a digit asks the class-conditional model (its label, and its
  // null label for the unconditional score) for (1 + w) s(x | digit) − w s(x)
  const digit = el('select', { id: 'imgClass', title: 'the digit to draw: any (the unconditional model) or one class, sampled with classifier-free guidance from the class-conditional model (models/mnist-unet-ve-cond.safetensors)' });
  digit.add(new Option('any', ''));
  for (let d = 0; d <= 9; d++) digit.add(new Option(String(d), String(d)));
  const scale = el('input', { type: 'range', min: '0', max: '10', step: '0.5', value: '3', id: 'imgGuidance', title: 'guidance scale w (0 to 10): the score (1 + w) s(x | digit) − w s(x); 0 samples the digit’s own distribution, larger w more typical, less varied digits' });
  const scaleText = el('span', { class: 'mono', id: 'imgGuidanceText' }, 'w = 3');
  const showScale = () => {
    scaleText.textContent = `w = ${scale.value}`;
    scale.disabled = digit.value === '';
  };
  scale.oninput = showScale;
  digit.onchange = showScale;
  showScale();
  const go = el('button', { id: 'imgRun', title: 'sample 16 digits from noise, every step drawn' }, 'sample');
  const c = canvas('imgGrid', 448);
  const text = el('div', { class: 'mono', id: 'imgText' }, 'loading the model…');
  const controls = el('div');
  controls.append(labelled('sampler ', sampler), labelled(' steps ', steps), labelled(' digit ', digit), labelled(' guidance ', scale), scaleText, go);
  root.append(controls);
  const pad = el('canvas', { id: 'digitPad', width: '224', height: '224', class: 'demo-plot fit' });
  const bpdBtn = el('button', { id: 'bpdBtn', title: 'the likelihood of the drawn digit in bits per pixel: −log₂ p(x)/784 + 8, by the probability-flow ODE' }, 'bits/dim of my digit');
  const bpdCancel = el('button', { id: 'bpdCancel', title: 'stop the likelihood computation (it runs in its own worker)' }, 'cancel');
  const brush = el('select', { id: 'padBrush', title: 'what the mouse does on the pad: ink a digit, or mark the region to inpaint' });
  brush.setAttribute('aria-label', 'brush');
  brush.add(new Option('brush: ink', 'ink'));
  brush.add(new Option('brush: region to inpaint', 'mask'));
  const inpaintBtn = el('button', { id: 'inpaintBtn', title: 'sample the marked pixels given the others (the PC inpainter: known pixels replaced by their noised values every step)' }, 'inpaint the region (16 samples)');
  const clearPad = el('button', { id: 'clearPad', title: 'clear the pad' }, 'clear');
  const bpdText = el('div', { class: 'mono', id: 'bpdText' }, 'draw a digit in the pad');
  // the samples and the pad side by side, so the lab fits a slide
  const padRow = el('div', { class: 'demo-row' });
  const gridCol = el('div');
  gridCol.append(c, text);
  const padCol = el('div', { style: 'max-width: 300px' });
  const padButtons = el('div', { class: 'pad-buttons' });
  padButtons.append(brush, clearPad, bpdBtn, bpdCancel, inpaintBtn);
  padCol.append(pad, padButtons, bpdText);
  padRow.append(gridCol, padCol);
  root.append(padRow);
  let bytes: Uint8Array;
  if (model) {
    bytes = model.bytes;
    document.getElementById('about')!.textContent = `demo: image lab (${model.name})`;
  } else {
    const res = await fetch('models/mnist-unet-ve.safetensors');
    if (!res.ok) throw new Error(`models/mnist-unet-ve.safetensors: ${res.status} ${res.statusText}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  // the U-Net is another workload than the lab's toy sampler: with backend=auto and a
  // hardware adapter, one U-Net step on each backend decides where it runs
  let backend = labBackend;
  const adapter = auto ? await probeWebGpu() : null;
  if (adapter && !adapter.fallback) {
    text.textContent = 'timing one U-Net step on the CPU and on WebGPU…';
    const m = await measureBackends(remote, 'U-Net sampler', { sampler: { kind: 'pc', steps: 100 }, n: 16, seed: 0 }, 1, 1, { name: model?.name ?? 'mnist', bytes });
    backend = m.chosen;
    demoState.measured = m;
    document.getElementById('about')!.textContent += `; ${measureText(m)}`;
  }
  const session = (await remote.createSession(backend, {})).session;
  await session.loadWeights(model?.name ?? 'mnist', bytes);
  demoState.model = model?.name ?? 'mnist-unet-ve';
  const unconditional = session.state().model as string;
  /** The class-conditional model's key in the session, loaded when a digit is first asked for. */
  let conditional: string | null = null;
  const conditionalModel = async () => {
    if (conditional === null) {
      text.textContent = 'loading the class-conditional model…';
      const res = await fetch('models/mnist-unet-ve-cond.safetensors');
      if (!res.ok) throw new Error(`models/mnist-unet-ve-cond.safetensors: ${res.status} ${res.statusText}`);
      await session.loadWeights('mnist-cond', new Uint8Array(await res.arrayBuffer()));
      conditional = session.state().model as string;
    }
    return conditional;
  };
  // likelihoods in a second worker: they run beside the sampler and can be cancelled alone
  let judge: Session | null = null;
  const judgeSession = async () => {
    if (!judge?.alive) {
      judge = (await judgeRemote.createSession(backend, {})).session;
      await judge.loadWeights(model?.name ?? 'mnist', bytes);
    }
    return judge;
  };
  const padPixels = new Float32Array(784);
  /** 1 where the pad's pixels are to be inpainted. */
  const padMask = new Float32Array(784);
  const drawPad = () => {
    drawDigits(pad, padPixels, 1);
    const ctx = pad.getContext('2d')!;
    ctx.fillStyle = 'rgba(220, 40, 40, 0.35)';
    const cell = pad.width / 28;
    for (let p = 0; p < 784; p++) if (padMask[p]) ctx.fillRect((p % 28) * cell, Math.floor(p / 28) * cell, cell, cell);
  };
  drawPad();
  let down = false;
  const ink = (e: PointerEvent) => {
    const r = pad.getBoundingClientRect();
    const cx = ((e.clientX - r.left) / r.width) * 28;
    const cy = ((e.clientY - r.top) / r.height) * 28;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        if (brush.value === 'mask') {
          if (d < 2.5) padMask[y * 28 + x] = 1;
        } else {
          const v = Math.max(0, Math.min(1, 1.6 - d));
          padPixels[y * 28 + x] = Math.max(padPixels[y * 28 + x], v);
        }
      }
    }
    drawPad();
  };
  pad.addEventListener('pointerdown', (e) => { down = true; ink(e); });
  pad.addEventListener('pointermove', (e) => { if (down) ink(e); });
  window.addEventListener('pointerup', () => { down = false; });
  clearPad.onclick = () => { padPixels.fill(0); padMask.fill(0); drawPad(); bpdText.textContent = 'draw a digit in the pad'; };
  const bitsPerDim = async (pixels: Float32Array) => {
    const t0 = performance.now();
    const r = await (await judgeSession()).bitsPerDim(pixels);
    demoState.bpd = r.bpd;
    demoState.bpdNfe = r.nfe;
    return { ...r, seconds: (performance.now() - t0) / 1000 };
  };
  bpdCancel.onclick = () => judgeRemote.cancel();
  bpdBtn.onclick = () => {
    // one likelihood at a time: the button waits for the answer (or cancel)
    bpdBtn.disabled = true;
    bpdText.textContent = 'computing (probability-flow ODE)…';
    bitsPerDim(padPixels.slice())
      .then(
        (r) => (bpdText.textContent = `${r.bpd[0].toFixed(2)} bits/dim   (NFE ${r.nfe}, ${r.seconds.toFixed(1)} s)`),
        (e) => (bpdText.textContent = (e as Error).message),
      )
      .finally(() => (bpdBtn.disabled = false));
  };
  demoHooks.setPad = (values: number[]) => {
    if (values.length !== 784) throw new Error(`setPad: need 784 values, got ${values.length}`);
    padPixels.set(values);
    drawPad();
  };
  demoHooks.setMask = (values: number[]) => {
    if (values.length !== 784) throw new Error(`setMask: need 784 values, got ${values.length}`);
    padMask.set(values.map((v) => (v ? 1 : 0)));
    drawPad();
  };
  // sampling and inpainting share the sampler's session: one job at a time, the newest wins
  const start = latest(alive, (e) => (text.textContent = e.message));
  /** Inpaint the masked region of the pad: 16 samples, every step drawn. */
  const inpaint = (n: number) => {
    if (!padMask.some((v) => v === 1)) throw new Error('inpaint: paint the region to fill first (brush: region to inpaint)');
    if (!Number.isInteger(n) || n < 10 || n > 2000) throw new Error(`steps: ${n}; accepted: an integer in [10, 2000]`);
    const known = padPixels.slice();
    const mask = padMask.map((v) => 1 - v);
    return start(async (current) => {
      await session.setState({ ...session.state(), sampler: { kind: 'pc', steps: n }, n: 16, seed: 1, denoise: true });
      await session.inpaint(known, mask);
      await stepDrawn(session, current, (info, p) => {
        drawDigits(c, p, 16);
        text.textContent = `inpainting: ${info ? stepText(info, true) : ''}   t = ${info?.t.toFixed(4)}`;
      });
      const p = Array.from((await session.particles()) as Float32Array);
      demoState.inpainted = p;
      return p;
    });
  };
  demoHooks.inpaint = (n = 100) => inpaint(n);
  inpaintBtn.onclick = () => {
    try {
      void inpaint(Number(steps.value));
    } catch (e) {
      bpdText.textContent = (e as Error).message;
    }
  };
  demoHooks.bitsPerDim = (values: number[]) => bitsPerDim(Float32Array.from(values));
  const run = () => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 10 || n > 2000) {
      text.textContent = `steps: ${steps.value}; accepted: an integer in [10, 2000]`;
      return Promise.resolve();
    }
    const kind = sampler.value;
    const guidance = digit.value === '' ? undefined : { class: Number(digit.value), scale: Number(scale.value) };
    return start(async (current) => {
      delete demoState.done;
      const spec: Record<string, unknown> = kind === 'ode' ? { kind: 'ode', solver: 'rk4', steps: n } : { kind, steps: n };
      const net = guidance ? await conditionalModel() : unconditional;
      await session.setState({ ...session.state(), model: net, guidance, sampler: spec, n: 16, seed: 0, denoise: kind !== 'ode' });
      demoState.guidance = guidance ?? null;
      const t0 = performance.now();
      await stepDrawn(session, current, (info, p) => {
        drawDigits(c, p, 16);
        const guided = guidance ? `   digit ${guidance.class}, w = ${guidance.scale}` : '';
        text.textContent = `${info ? stepText(info, kind !== 'ode') : ''}   t = ${info?.t.toFixed(4)}   NFE ${info?.nfe}   ${((performance.now() - t0) / 1000).toFixed(1)} s${guided}`;
        demoState.step = info?.index;
      });
      if (!current()) return;
      const p = (await session.particles()) as Float32Array;
      let ink = 0;
      for (const v of p) ink += Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : NaN;
      demoState.meanPixel = ink / p.length;
      demoState.seconds = (performance.now() - t0) / 1000; // drawing every step included
      demoState.done = true;
    });
  };
  go.onclick = () => void run();
  await run();
}

/** Steps `session` to its end (or until `current()` turns false), drawing every step: the
 * next step is asked of the worker before the page waits for its next frame, so the worker
 * computes while the page paints (awaiting the frame first left the worker idle for up to a
 * frame per step: ~0.8 s of the 100-step image lab, ~4 s at 500 steps). */
async function stepDrawn(session: Session, current: () => boolean, draw: (info: StepInfo | null, particles: Float32Array) => void): Promise<void> {
  let next = current() ? session.step(1) : null;
  while (next) {
    const info = (await next) as StepInfo | null;
    const p = (await session.particles()) as Float32Array;
    next = current() && !info?.done ? session.step(1) : null;
    draw(info, p);
    await frame();
  }
}
