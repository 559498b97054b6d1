// The current search and its loaded results, shared by the grid and the photo view so that
// previous/next in the photo view walks the same list, and the grid keeps its place.
import { api, ApiError, withParams } from './api.js';

export const PAGE_SIZE = 200;

class SearchState {
  q = $state(null);
  resultsQ = $state(null); // the query the shown results answer (q may be in flight)
  results = $state.raw([]);
  total = $state(0);
  tookMs = $state(null);
  notices = $state.raw([]);
  error = $state(null);
  loading = $state(false);
  nextCursor = null;
  openedFromGrid = false;
  startedAt = 0;
  #seq = 0;
  #pending = null;

  // Run `q` unless it is what is already shown (navigating back must not refetch).
  async run(q, { force = false } = {}) {
    if (!force && q === this.q && !this.error) return;
    const seq = ++this.#seq;
    this.#pending?.abort();
    this.#pending = new AbortController();
    this.q = q;
    this.loading = true;
    this.error = null;
    this.startedAt = performance.now();
    try {
      const page = await api(withParams('/api/search', { q, limit: PAGE_SIZE }), {
        signal: this.#pending.signal,
      });
      if (seq !== this.#seq) return;
      this.#accept(page, []);
    } catch (e) {
      if (seq !== this.#seq || e.name === 'AbortError') return;
      this.results = [];
      this.total = 0;
      this.notices = [];
      this.error = e instanceof ApiError ? e : new ApiError(0, 'client', String(e), null);
    } finally {
      if (seq === this.#seq) this.loading = false;
    }
  }

  // Fetch the next page; concurrent calls share one request.
  loadMore() {
    if (!this.nextCursor || this.loading) return this.#more ?? Promise.resolve();
    const seq = this.#seq;
    const cursor = this.nextCursor;
    this.loading = true;
    this.#more = api(withParams('/api/search', { q: this.q, limit: PAGE_SIZE, cursor }))
      .then((page) => {
        if (seq === this.#seq) this.#accept(page, this.results);
      })
      .catch((e) => {
        if (seq === this.#seq) this.error = e;
      })
      .finally(() => {
        if (seq === this.#seq) this.loading = false;
        this.#more = null;
      });
    return this.#more;
  }

  #more = null;

  #accept(page, before) {
    this.results = before.length ? before.concat(page.results) : page.results;
    this.resultsQ = page.query;
    this.total = page.total;
    this.tookMs = page.took_ms;
    this.notices = page.notices || [];
    this.nextCursor = page.next_cursor;
  }

  indexOf(photoId) {
    return this.results.findIndex((r) => r.id === photoId);
  }
}

export const search = new SearchState();
