// Library status (size, features, notices, model downloads), refreshed when a page asks
// for it, and every second by itself while a model is downloading.
import { api } from './api.js';

const DOWNLOAD_POLL_MS = 1000;

export function downloading(data) {
  return (data?.downloads ?? []).some((d) => d.state === 'downloading' || d.state === 'installed');
}

class LibraryStatus {
  data = $state(null);
  error = $state(null);
  #timer = null;

  async refresh() {
    clearTimeout(this.#timer);
    try {
      this.data = await api('/api/status');
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    if (downloading(this.data)) this.#timer = setTimeout(() => this.refresh(), DOWNLOAD_POLL_MS);
    return this.data;
  }
}

export const status = new LibraryStatus();
