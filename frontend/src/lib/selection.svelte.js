// Which search results are selected, kept apart from the grid that shows them.
// Either photos chosen one by one (ids), or "all N results" of a query: the server then
// acts on the query itself (`{ query }`), so results never loaded here are included; the
// ones unselected since are sent as `except`, so all N but those stay selected.
import { SvelteSet } from 'svelte/reactivity';
import { api, withParams } from './api.js';

class Selection {
  ids = new SvelteSet();
  allOf = $state(null); // the query whose every result is selected, or null
  allTotal = $state(0);
  except = new SvelteSet(); // with allOf: the results unselected since
  anchor = null; // the index a shift-click extends from

  get count() {
    return this.allOf !== null ? Math.max(0, this.allTotal - this.except.size) : this.ids.size;
  }

  get active() {
    return this.count > 0;
  }

  has(id) {
    return this.allOf !== null ? !this.except.has(id) : this.ids.has(id);
  }

  #select(id, on) {
    if (this.allOf === null) {
      if (on) this.ids.add(id);
      else this.ids.delete(id);
    } else if (on) this.except.delete(id);
    else this.except.add(id);
  }

  toggle(items, index) {
    const item = items[index];
    if (!item) return;
    this.#select(item.id, !this.has(item.id));
    this.anchor = index;
    if (!this.active) this.clear();
  }

  // Shift-click: everything between the last toggled tile and this one joins.
  extend(items, index) {
    if (this.anchor === null) return this.toggle(items, index);
    const [from, to] = this.anchor < index ? [this.anchor, index] : [index, this.anchor];
    for (let i = from; i <= to; i++) if (items[i]) this.#select(items[i].id, true);
    this.anchor = index;
  }

  selectAll(q, total) {
    this.ids.clear();
    this.except.clear();
    this.allOf = q ?? '';
    this.allTotal = total;
  }

  clear() {
    this.ids.clear();
    this.except.clear();
    this.allOf = null;
    this.allTotal = 0;
    this.anchor = null;
  }

  // What the API's selection endpoints take.
  body() {
    if (this.allOf === null) return { ids: [...this.ids] };
    return this.except.size ? { query: this.allOf, except: [...this.except] } : { query: this.allOf };
  }

  async paths() {
    const found = await api('/api/selection/paths', { method: 'POST', body: this.body() });
    return found.photos.map((p) => p.path);
  }

  // A link the browser saves as the zip streams in (fetch would hold it all in memory);
  // a GET, since a form POST from this page carries "Origin: null" (no-referrer policy).
  download() {
    const body = this.body();
    const params = body.query !== undefined ? { query: body.query } : { ids: body.ids.join(',') };
    if (body.except) params.except = body.except.join(',');
    const link = document.createElement('a');
    link.href = withParams('/api/selection/download', params);
    link.download = 'hachi-photos.zip';
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  }
}

export const selection = new Selection();

// A click on a tile: with shift, or while something is selected, it selects instead of
// opening the photo (ctrl/cmd-click still opens it in a new tab). Returns true when it did.
export function selectionClick(event, items, index) {
  if (!event.shiftKey && !selection.active) return false;
  event.preventDefault();
  if (event.shiftKey) selection.extend(items, index);
  else selection.toggle(items, index);
  return true;
}

// Keys on a focused tile: x or space toggles it, Escape clears. Returns true when handled.
export function selectionKey(event, items, index) {
  if (event.key === 'x' || event.key === ' ') {
    event.preventDefault();
    if (event.shiftKey) selection.extend(items, index);
    else selection.toggle(items, index);
    return true;
  }
  if (event.key === 'Escape' && selection.active) {
    event.preventDefault();
    selection.clear();
    return true;
  }
  return false;
}
