// Library status (size, features, notices, model downloads, the indexing job), refreshed
// when a page asks for it, every second by itself while a model is downloading, and every
// few seconds while a job runs (for the indexing indicator in the nav).
import { api } from './api.js';
import { ACTIVE_STATES } from './job.svelte.js';

const DOWNLOAD_POLL_MS = 1000;
const JOB_POLL_MS = 2000;

export function indexing(data) {
  return !!data?.job && ACTIVE_STATES.includes(data.job.state);
}

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
    else if (indexing(this.data)) this.#timer = setTimeout(() => this.refresh(), JOB_POLL_MS);
    return this.data;
  }
}

export const status = new LibraryStatus();
