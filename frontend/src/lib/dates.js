// Labels of the timeline: days are the photos' local dates (YYYY-MM-DD), shown as written,
// never shifted by the browser's time zone.

function utc(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, (m || 1) - 1, d || 1));
}

export function monthLabel(day) {
  return utc(day).toLocaleDateString(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' });
}

export function shortMonth(day) {
  return utc(day).toLocaleDateString(undefined, { month: 'short', timeZone: 'UTC' });
}

// Under its month's header, which names the year.
export function dayLabel(day) {
  return utc(day).toLocaleDateString(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC',
  });
}

// Today as YYYY-MM-DD in the browser's clock, unless `override` (a ?today= in the URL, for
// tests and for looking back from another day) names a valid date.
export function today(override) {
  if (override && /^\d{4}-\d{2}-\d{2}$/.test(override) && !isNaN(utc(override))) return override;
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
