// Human-readable numbers and dates; every function accepts null and returns '' for it.

const SIZE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

export function fileSize(bytes) {
  if (bytes == null) return '';
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < SIZE_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${SIZE_UNITS[unit]}`;
}

// taken_at is local wall-clock time of the camera; show it as written, not shifted.
export function takenAt(iso, tzOffsetMinutes) {
  if (!iso) return '';
  const [date, time = ''] = iso.split('T');
  const [y, m, d] = date.split('-').map(Number);
  const day = new Date(Date.UTC(y, (m || 1) - 1, d || 1)).toLocaleDateString(undefined, {
    year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC',
  });
  const clock = time.slice(0, 5);
  return [day, clock, tzOffsetMinutes == null ? '' : utcOffset(tzOffsetMinutes)].filter(Boolean).join(' ');
}

export function utcOffset(minutes) {
  const sign = minutes < 0 ? '−' : '+';
  const abs = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

export function shortDate(iso) {
  return iso ? iso.slice(0, 10) : '';
}

export function exposure(seconds) {
  if (seconds == null) return '';
  if (seconds >= 1) return `${Number(seconds.toFixed(1))} s`;
  return `1/${Math.round(1 / seconds)} s`;
}

export function coordinate(value, positive, negative) {
  if (value == null) return '';
  return `${Math.abs(value).toFixed(5)}° ${value >= 0 ? positive : negative}`;
}

export function duration(seconds) {
  if (seconds == null || !isFinite(seconds)) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function count(n, one, many = one + 's') {
  return `${(n ?? 0).toLocaleString()} ${n === 1 ? one : many}`;
}
