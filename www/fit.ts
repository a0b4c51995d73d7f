// Fitting the page to a frame. In an iframe (a slide, a course page) or with `embed=1` the
// page cannot scroll usefully: the plots (canvases of class `fit`) shrink, keeping their
// aspect ratio, until the page is no taller than the viewport; their drawing buffers keep
// their size, so nothing is redrawn. Widths are handled by CSS (`max-width: 100%`).

/** Smallest CSS height a plot is shrunk to (px): below it the page scrolls instead. */
const MIN_PLOT = 160;

/** Is the page in a frame or in embed mode, where it fits itself to the viewport? */
export function fitsViewport(embed: boolean): boolean {
  let framed = false;
  try {
    framed = window.self !== window.top;
  } catch {
    framed = true; // a cross-origin parent
  }
  return framed || embed;
}

function visible(c: HTMLElement): boolean {
  return c.offsetParent !== null || c.getClientRects().length > 0;
}

/** Shrink the visible plots until the document fits the viewport's height. */
export function fitToViewport(): void {
  if (!document.body.classList.contains('fit-viewport')) return;
  const plots = Array.from(document.querySelectorAll<HTMLCanvasElement>('canvas.fit')).filter(visible);
  for (const c of plots) c.style.height = '';
  // plots side by side share the overflow; plots above each other add up: a few rounds settle
  for (let round = 0; round < 4; round++) {
    const over = document.documentElement.scrollHeight - window.innerHeight;
    if (over <= 0) return;
    let changed = false;
    for (const c of plots) {
      const h = c.getBoundingClientRect().height;
      const want = Math.max(MIN_PLOT, Math.floor(h - over));
      if (want < h) {
        c.style.height = `${want}px`;
        changed = true;
      }
    }
    if (!changed) return;
  }
}

/** Keep the page fitted: on resize and whenever the content changes size. */
export function keepFitted(embed: boolean): void {
  if (!fitsViewport(embed)) return;
  document.body.classList.add('fit-viewport');
  let queued = false;
  const schedule = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fitToViewport();
    });
  };
  window.addEventListener('resize', schedule);
  new ResizeObserver(schedule).observe(document.body);
  new MutationObserver(schedule).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['hidden', 'class'] });
  schedule();
}
