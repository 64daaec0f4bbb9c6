// Hash routes (#/name/arg/arg) to views. One draw per navigation: navigate() to the hash
// already shown redraws it; a newer navigation makes an older draw's result stale.
const views = new Map();
let fallback = null;
let seq = 0;
let before = () => true;

export function register(name, view) {
  views.set(name, view);
}

export function setFallback(name) {
  fallback = name;
}

export function beforeEach(fn) {
  before = fn;
}

export function current() {
  return (location.hash || '').replace(/^#\/?/, '').split('/');
}

// True while the draw started as number `mine` is still the newest.
export function fresh(mine) {
  return mine === seq;
}

export async function route() {
  seq += 1;
  const mine = seq;
  const parts = current();
  if (!(await before(parts, mine)) || mine !== seq) return;
  const view = views.get(parts[0]) || views.get(fallback);
  await view(mine, ...parts.slice(1));
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export function start() {
  window.addEventListener('hashchange', () => {
    route();
  });
  route();
}
