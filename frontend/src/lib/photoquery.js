// Search with a photo survives a reload: the photo is kept in this tab's sessionStorage
// (scaled down: the model sees 224 px anyway) under a short key, and the URL names the key
// (`/?photo=<key>`). Nothing leaves the browser but the search request itself.
const PREFIX = 'hachi-photo-query:';
const MAX_SIDE = 640;
const MAX_STORED_CHARS = 4_000_000;
const KEPT = 5;

async function scaled(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
    return blob ? new File([blob], file.name, { type: 'image/jpeg' }) : file;
  } catch {
    return file; // a format the browser cannot draw (RAW, HEIC): the server reads it
  }
}

function toBase64(bytes) {
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

function forgetOld() {
  const keys = Object.keys(sessionStorage).filter((k) => k.startsWith(PREFIX)).sort();
  for (const key of keys.slice(0, Math.max(0, keys.length - KEPT + 1))) sessionStorage.removeItem(key);
}

// The photo to search with, and its key (null when it is too big to keep for a reload).
export async function rememberPhoto(file) {
  const photo = await scaled(file);
  const data = toBase64(new Uint8Array(await photo.arrayBuffer()));
  if (data.length > MAX_STORED_CHARS) return { file: photo, key: null };
  const key = Date.now().toString(36);
  try {
    forgetOld();
    sessionStorage.setItem(PREFIX + key, JSON.stringify({ name: file.name, type: photo.type, data }));
  } catch {
    return { file: photo, key: null }; // storage full or disabled
  }
  return { file: photo, key };
}

export function recallPhoto(key) {
  const stored = key && sessionStorage.getItem(PREFIX + key);
  if (!stored) return null;
  try {
    const { name, type, data } = JSON.parse(stored);
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    return new File([bytes], name, { type: type || 'application/octet-stream' });
  } catch {
    return null;
  }
}

// The search page's URL for a query line and, optionally, a remembered photo.
export function searchUrl(q, photoKey = null) {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (photoKey) params.set('photo', photoKey);
  const text = params.toString();
  return text ? `/?${text}` : '/';
}
