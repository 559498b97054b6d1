// Library status (size, features, notices), refreshed when a page asks for it.
import { api } from './api.js';

class LibraryStatus {
  data = $state(null);
  error = $state(null);

  async refresh() {
    try {
      this.data = await api('/api/status');
      this.error = null;
    } catch (e) {
      this.error = e;
    }
    return this.data;
  }
}

export const status = new LibraryStatus();
