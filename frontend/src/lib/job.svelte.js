// The indexing job, polled while one is active so the Folders page shows live progress.
import { api } from './api.js';

export const ACTIVE_STATES = ['queued', 'running', 'cancelling'];
const POLL_MS = 600;

// After the scan, each model runs as a pass over the new photos (job.phase).
export const PHASE_LABELS = {
  scan: 'Reading files',
  clip: 'Understanding photos for semantic search',
  faces: 'Finding faces',
  ocr: 'Reading text in photos',
};

// The same, in a word, for the indicator in the nav.
export const PHASE_SHORT = { scan: 'Scanning', clip: 'Understanding', faces: 'Faces', ocr: 'Text' };

// How far the job is: the running pass when there is one, else the files processed.
export function jobPercent(job) {
  if (job.phase && job.phase_total) return Math.min(100, Math.floor((100 * job.phase_done) / job.phase_total));
  const processed = job.done + job.failed + job.unchanged + job.moved;
  return job.found ? Math.min(100, Math.floor((100 * processed) / job.found)) : 0;
}

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
