// What the lab's modules share: the DOM helper and the plotted square.

/** An element by id, typed. */
export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** The square the 2-D lab plots (plot units). */
export const VIEW = { lo: -10, hi: 10 };
