// Short messages after an action ("Renamed to Ada." · Undo), shown by <Toasts> in one
// polite live region. Each goes by itself after a while, but not while the pointer or the
// keyboard is on it, so an Undo can still be reached at any pace.

const DEFAULT_MS = 8000;
let nextId = 1;

class ToastStore {
  items = $state([]);
  #timers = new Map();

  // `undo`: an async function that really reverses the action; its failure is shown too.
  show(message, { undo = null, timeout = DEFAULT_MS } = {}) {
    const id = nextId++;
    this.items = [...this.items, { id, message, undo, busy: false, error: null }];
    this.#arm(id, timeout);
    return id;
  }

  #arm(id, timeout) {
    clearTimeout(this.#timers.get(id));
    if (timeout) this.#timers.set(id, setTimeout(() => this.dismiss(id), timeout));
  }

  hold(id) {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
  }

  release(id) {
    if (this.items.some((t) => t.id === id)) this.#arm(id, DEFAULT_MS);
  }

  dismiss(id) {
    this.hold(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  #patch(id, changes) {
    this.items = this.items.map((t) => (t.id === id ? { ...t, ...changes } : t));
  }

  async undo(id) {
    const toast = this.items.find((t) => t.id === id);
    if (!toast?.undo || toast.busy) return;
    this.hold(id);
    this.#patch(id, { busy: true, error: null });
    try {
      const said = await toast.undo();
      this.dismiss(id);
      this.show(typeof said === 'string' ? said : 'Undone.');
    } catch (e) {
      this.#patch(id, { busy: false, error: e.message ?? String(e) });
    }
  }
}

export const toasts = new ToastStore();
