// The first-visit introduction: a banner above the lab (it covers nothing), shown until it
// is dismissed, then remembered in localStorage; "what is this?" shows it again. Never shown
// embedded or framed (a lecturer's slide shows the plot, not the welcome).
import { $ } from './page';

const SEEN = 'scorelab.introSeen';

function remembered(): boolean {
  try {
    return localStorage.getItem(SEEN) === '1';
  } catch {
    return false; // storage blocked: show it, it is one click away
  }
}

export function bindIntro(embedded: boolean): void {
  const intro = $('intro');
  intro.hidden = embedded || window.top !== window || remembered();
  $('introClose').onclick = () => {
    intro.hidden = true;
    try {
      localStorage.setItem(SEEN, '1');
    } catch {
      // not remembered: shown again next time
    }
    $('helpBtn').focus();
  };
  $('helpBtn').onclick = () => {
    intro.hidden = !intro.hidden;
    if (!intro.hidden) $('introClose').focus();
  };
}
