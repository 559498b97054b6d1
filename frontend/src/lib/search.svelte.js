// The current search and its loaded results, shared by the grid and the photo view so that
// previous/next in the photo view walks the same list, and the grid keeps its place.
// A search is a query line, optionally with a photo (search by photo), and how far the
// semantic relevance cutoff is loosened (`more`).
import { api, ApiError, withParams } from './api.js';

export const PAGE_SIZE = 200;
export const MAX_MORE = 2;

class SearchState {
  q = $state(null);
  resultsQ = $state(null); // the query the shown results answer (q may be in flight)
  results = $state.raw([]); // sparse: a hole is a photo not fetched yet
  order = $state(null); // date_desc | date_asc | rank
  timeline = $state.raw(null); // /api/timeline of the shown results: photos per day
  total = $state(0);
  tookMs = $state(null);
  notices = $state.raw([]);
  error = $state(null);
  loading = $state(false);
  searching = $state(false); // a new search is on its way: what is shown answers the last one
  more = $state(0);
  hidden = $state(0); // photos the relevance cutoff left out
  stacked = $state(0); // near-duplicate copies shown inside another hit's stack
  image = $state.raw(null); // { file, name, url, key } while searching with a photo
  nextCursor = null;
  openedFromGrid = false;
  startedAt = 0;
  #seq = 0;
  #pending = null;
  #more = null;

  // Run `q` unless it is what is already shown (navigating back must not refetch).
  // Without `image`, a photo search in progress ends: the query line takes over again.
  async run(q, { force = false, more = 0, image = null } = {}) {
    if (!force && !image && q === this.q && !this.error) return;
    if (image !== this.image) this.#setImage(image);
    const seq = ++this.#seq;
    this.#pending?.abort();
    this.#pending = new AbortController();
    this.q = q;
    this.more = more;
    this.loading = true;
    this.searching = true;
    this.error = null;
    this.startedAt = performance.now();
    try {
      const page = await this.#request(null, this.#pending.signal, undefined, true);
      if (seq !== this.#seq) return;
      this.#accept(page, []);
      // The first page brings the timeline (photos per day) of a search ordered by date.
      const line = page.timeline;
      this.timeline = line?.days?.length && line.total === page.total ? line : null;
    } catch (e) {
      if (seq !== this.#seq || e.name === 'AbortError') return;
      this.#fail(e);
    } finally {
      if (seq === this.#seq) this.loading = this.searching = false;
    }
  }

  // `key` names the photo in the URL (photoquery.js), so that a reload finds it again.
  searchWithPhoto(file, q, key = null) {
    const image = { file, name: file.name, url: URL.createObjectURL(file), key };
    return this.run(q, { force: true, image });
  }

  // The cutoff left photos out: loosen it a step and fetch again from the top. A step that
  // brings nothing new is skipped, so the button always shows more.
  async showMore() {
    if (this.loading) return; // a click while the last step loads is the same request
    const { q, image, total } = this;
    await this.run(q, { force: true, more: Math.min(MAX_MORE, this.more + 1), image });
    if (this.q !== q || this.image !== image || this.error) return; // another search took over
    if (this.total <= total && this.hidden > 0 && this.more < MAX_MORE) {
      await this.showMore();
    }
  }

  // Fetch the page that starts at photo `at` (by default the first one not loaded yet), so
  // the grid can jump into the middle of a long timeline without the pages before it: the
  // results are a sparse array, holes being photos not fetched yet. One request at a time;
  // concurrent calls share it, and the grid asks again for what is still missing.
  loadMore(at = this.firstMissing()) {
    if (this.loading || at >= this.total || this.results[at]) return this.#more ?? Promise.resolve();
    const seq = this.#seq;
    this.loading = true;
    this.#more = this.#request(null, undefined, at)
      .then((page) => {
        if (seq === this.#seq) this.#place(page, at);
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

  firstMissing(from = 0) {
    const { results } = this;
    let i = from;
    while (i < results.length && results[i]) i++;
    return i;
  }

  #request(cursor, signal, offset, timeline = false) {
    const params = { q: this.q, limit: PAGE_SIZE, cursor, offset, more: this.more || undefined };
    if (!this.image) {
      const path = withParams('/api/search', { ...params, timeline: timeline ? 1 : undefined });
      return api(path, { signal });
    }
    const path = withParams('/api/search/image', params);
    return api(path, { method: 'POST', body: this.image.file, signal });
  }

  #setImage(image) {
    if (this.image) URL.revokeObjectURL(this.image.url);
    this.image = image;
  }

  #place(page, at) {
    // The library shrank while browsing (photos removed): the answer ends sooner, and no
    // hole is left for the grid to ask for again and again.
    if (page.results.length === 0) this.total = Math.min(this.total, at);
    const results = this.results.slice();
    page.results.forEach((hit, i) => {
      results[at + i] = hit;
    });
    this.results = results;
  }

  #accept(page, before) {
    this.results = before.length ? before.concat(page.results) : page.results;
    this.order = page.order ?? null;
    this.resultsQ = page.query;
    this.total = page.total;
    this.tookMs = page.took_ms;
    this.notices = page.notices || [];
    this.nextCursor = page.next_cursor;
    this.hidden = page.semantic && this.more < MAX_MORE ? page.hidden || 0 : 0;
    this.stacked = page.stacked || 0;
  }

  #fail(e) {
    this.results = [];
    this.timeline = null;
    this.total = 0;
    this.hidden = 0;
    this.stacked = 0;
    this.notices = [];
    this.error = e instanceof ApiError ? e : new ApiError(0, 'client', String(e), null);
  }

  indexOf(photoId) {
    return this.results.findIndex((r) => r?.id === photoId);
  }
}

export const search = new SearchState();
