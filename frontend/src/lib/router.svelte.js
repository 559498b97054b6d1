// A tiny history-API router: the URL is the state of the page, so links can be shared,
// reloaded and opened in a new tab (Caddy sends index.html for every unknown path).

class Route {
  path = $state(location.pathname);
  query = $state(new URLSearchParams(location.search));

  sync() {
    this.path = location.pathname;
    this.query = new URLSearchParams(location.search);
  }
}

export const route = new Route();

export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, location.origin);
  if (target.origin !== location.origin) {
    location.assign(target.href);
    return;
  }
  const next = target.pathname + target.search + target.hash;
  if (next === location.pathname + location.search + location.hash) return;
  if (replace) history.replaceState(null, '', next);
  else history.pushState(null, '', next);
  route.sync();
}

function isPlainLeftClick(event) {
  return event.button === 0 && !event.metaKey && !event.ctrlKey && !event.shiftKey && !event.altKey;
}

// Same-origin links navigate in place; downloads, API links and new-tab clicks are left alone.
export function startRouter() {
  const onPop = () => route.sync();
  const onClick = (event) => {
    if (event.defaultPrevented || !isPlainLeftClick(event)) return;
    const link = event.target.closest && event.target.closest('a[href]');
    if (!link || link.target || link.hasAttribute('download')) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    if (url.hash && url.pathname === location.pathname && url.search === location.search) return; // in-page
    event.preventDefault();
    navigate(url.href);
  };
  addEventListener('popstate', onPop);
  document.addEventListener('click', onClick);
  return () => {
    removeEventListener('popstate', onPop);
    document.removeEventListener('click', onClick);
  };
}

export function match(pattern, path) {
  const names = [];
  const source = pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  });
  const found = new RegExp(`^${source}/?$`).exec(path);
  if (!found) return null;
  return Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(found[i + 1])]));
}
