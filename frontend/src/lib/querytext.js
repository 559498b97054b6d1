// The search bar's model of the query language: filters become chips, the rest stays text.
// The server parses the query for real; this only splits it the way the server does
// (whitespace separates tokens, double quotes hold spaces) so chips match its tokens.

export const FILTER_KEYS = [
  'person', 'people', 'place', 'country', 'camera', 'make', 'model', 'lens', 'after', 'before',
  'year', 'date', 'day', 'folder', 'file', 'type', 'ext', 'orientation', 'text', 'similar', 'faces',
  'near', 'within',
  'duration',
  'album',
  'duplicate', 'duplicates', 'stack',
];
export const SORT_KEY = 'sort';

// Which /api/suggest kind completes the value of a filter key.
export const SUGGEST_KIND = {
  camera: 'camera', make: 'camera', model: 'camera', lens: 'lens', folder: 'folder',
  file: 'file', year: 'year', date: 'year', place: 'place', person: 'person', people: 'person',
  album: 'album',
};
// Which filter a suggestion of a kind becomes when picked.
export const FILTER_FOR_KIND = {
  camera: 'camera', lens: 'lens', folder: 'folder', file: 'file', year: 'year', place: 'place',
  person: 'person', album: 'album',
};

const TOKEN = /(?:[^\s"]+|"[^"]*"?)+/g;
const FILTER = /^(-?)([a-z_]+):(.*)$/s;

export function tokenize(text) {
  return Array.from(text.matchAll(TOKEN), (m) => ({ raw: m[0], start: m.index, end: m.index + m[0].length }));
}

export function parseFilter(raw) {
  const found = FILTER.exec(raw);
  if (!found) return null;
  const key = found[2].toLowerCase();
  if (key !== SORT_KEY && !FILTER_KEYS.includes(key)) return null;
  return { negated: found[1] === '-', key, value: unquote(found[3]) };
}

export function unquote(value) {
  return value.replace(/^"/, '').replace(/"$/, '');
}

export function quoteValue(value) {
  const clean = String(value).replaceAll('"', '');
  return /[\s,:+]|^=/.test(clean) ? `"${clean}"` : clean;
}

// person: chips combine their names three ways: a,b any of, a+b all of, =a,b only them.
export const PEOPLE_LOGIC = ['any', 'all', 'only'];
const PEOPLE_NAME = /"[^"]*"?|[^,+"]+/g;

// The logic and the names (as typed, quotes kept) of a person: chip; null for other chips.
export function peopleLogic(raw) {
  const found = FILTER.exec(raw);
  if (!found || !['person', 'people'].includes(found[2].toLowerCase())) return null;
  let value = found[3];
  const only = value.startsWith('=');
  if (only) value = value.slice(1);
  const names = value.match(PEOPLE_NAME) ?? [];
  if (!names.length) return null;
  const unquoted = value.replace(/"[^"]*"?/g, '');
  const logic = only ? 'only' : unquoted.includes('+') ? 'all' : 'any';
  return { negated: found[1] === '-', key: found[2], logic, names };
}

// The same chip with its names combined another way.
export function withPeopleLogic(raw, logic) {
  const chip = peopleLogic(raw);
  if (!chip) return raw;
  const names = chip.names.join(logic === 'all' ? '+' : ',');
  return `${chip.negated ? '-' : ''}${chip.key}:${logic === 'only' ? '=' : ''}${names}`;
}

export function filterToken(key, value, negated = false) {
  return `${negated ? '-' : ''}${key}:${quoteValue(value)}`;
}

// Split a whole query (from the URL) into chips, free text and the sort order.
export function splitQuery(q) {
  const chips = [];
  const words = [];
  let sort = '';
  for (const token of tokenize(q)) {
    const filter = parseFilter(token.raw);
    if (filter && filter.key === SORT_KEY) sort = filter.value;
    else if (filter && filter.value) chips.push(token.raw);
    else words.push(token.raw);
  }
  return { chips, text: words.join(' '), sort };
}

// Move finished filter tokens (followed by a space, or all when `all`) out of typed text.
export function extractChips(text, all = false) {
  const chips = [];
  const kept = [];
  let sort = null;
  for (const token of tokenize(text)) {
    const finished = all || /\s/.test(text.charAt(token.end));
    const filter = finished ? parseFilter(token.raw) : null;
    if (filter && filter.key === SORT_KEY) sort = filter.value;
    else if (filter && filter.value && !token.raw.endsWith(':')) chips.push(token.raw);
    else kept.push(token.raw);
  }
  const trailing = /\s$/.test(text) && kept.length ? ' ' : '';
  return { chips, text: kept.join(' ') + trailing, sort };
}

// The query sent to the server, and where each chip and the text sit in it (for errors).
export function composeQuery(chips, text, sort) {
  const parts = [...chips.map((raw) => ({ raw, chip: true }))];
  if (sort) parts.push({ raw: `${SORT_KEY}:${sort}`, sort: true });
  if (text.trim()) parts.push({ raw: text.trim(), text: true });
  let offset = 0;
  const spans = parts.map((p) => {
    const span = { ...p, start: offset, end: offset + p.raw.length };
    offset = span.end + 1;
    return span;
  });
  return { q: parts.map((p) => p.raw).join(' '), spans };
}

// In person:ann,bo (or ann+bo, =ann,bo) only the name after the last separator is being
// typed: the head (kept as typed) and that name (what autocomplete completes).
function peopleHead(key, value) {
  if (!['person', 'people'].includes(key)) return { head: '', prefix: null };
  let cut = value.startsWith('=') ? 1 : 0;
  let quoted = false;
  for (let i = 0; i < value.length; i += 1) {
    if (value[i] === '"') quoted = !quoted;
    else if (!quoted && (value[i] === ',' || value[i] === '+')) cut = i + 1;
  }
  return { head: value.slice(0, cut), prefix: unquote(value.slice(cut)) };
}

// The token being typed at the caret, with what it asks the autocomplete for.
export function wordAt(text, caret) {
  const token = tokenize(text).find((t) => t.start <= caret && caret <= t.end);
  if (!token || caret !== token.end) return null;
  const filter = parseFilter(token.raw);
  if (filter) {
    const kind = SUGGEST_KIND[filter.key];
    if (!kind) return null;
    const { head, prefix } = peopleHead(filter.key, token.raw.slice(token.raw.indexOf(':') + 1));
    return { ...token, kind, key: filter.key, negated: filter.negated, prefix: prefix ?? filter.value, head };
  }
  if (token.raw.includes(':') || token.raw.length < 2) return null;
  return { ...token, kind: null, key: null, negated: false, prefix: unquote(token.raw) };
}
