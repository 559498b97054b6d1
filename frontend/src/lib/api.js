// One way to talk to Hachi's REST API: JSON in, JSON out, errors as ApiError.
// A 401 anywhere means the session ended, so listeners (the app shell) can show the login page.

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail ?? null;
  }
}

const unauthorizedListeners = new Set();

export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy error page, say): fall back to the status line.
  }
  const err = body && body.error;
  if (err && typeof err.message === 'string') {
    return new ApiError(response.status, err.code, err.message, err.detail);
  }
  const text = response.status === 502 ? 'the Hachi server is not answering' : response.statusText;
  return new ApiError(response.status, 'http_' + response.status, text || 'request failed', null);
}

export async function api(path, { method = 'GET', body, signal, quiet401 = false } = {}) {
  const init = { method, signal, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body instanceof Blob) {
    // A file (search by photo) goes as it is, not as JSON.
    init.headers['Content-Type'] = body.type || 'application/octet-stream';
    init.body = body;
  } else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'cannot reach the server: is Hachi running?', null);
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !quiet401) unauthorizedListeners.forEach((f) => f(error));
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

export function withParams(path, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}
