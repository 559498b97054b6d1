// The indexing job, polled while one is active so the Folders page shows live progress.
import { api } from './api.js';

export const ACTIVE_STATES = ['queued', 'running', 'cancelling'];
const POLL_MS = 600;

export class JobWatcher {
  job = $state(null);
  error = $state(null);
  #timer = null;
  #stopped = false;
  onFinished = null;

  get active() {
    return !!this.job && ACTIVE_STATES.includes(this.job.state);
  }

  async poll() {
    clearTimeout(this.#timer);
    const wasActive = this.active;
    try {
      this.job = (await api('/api/jobs/current')).job;
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    if (this.#stopped) return;
    if (this.active) this.#timer = setTimeout(() => this.poll(), POLL_MS);
    else if (wasActive) this.onFinished?.(this.job);
  }

  watch(job) {
    this.job = job;
    this.poll();
  }

  async cancel() {
    if (!this.job) return;
    this.job = await api(`/api/jobs/${this.job.id}/cancel`, { method: 'POST' });
    this.poll();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
