// Reading an OpenAPI 3.1 document for the reference page: references, type names and the
// constraints worth showing, as plain strings (the page renders them as text, never HTML).

export function refName(ref) {
  return typeof ref === 'string' ? ref.split('/').at(-1) : '';
}

// Follow a local `$ref` (#/components/...) once; anything else is returned as it is.
export function resolve(doc, item) {
  if (!item || typeof item.$ref !== 'string' || !item.$ref.startsWith('#/')) return item;
  return item.$ref.slice(2).split('/').reduce((node, key) => node?.[key], doc) ?? item;
}

// "string", "integer | null", "array of Photo", "one of int8, float32", "Photo" (a ref).
export function typeName(schema) {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const variants = schema.oneOf || schema.anyOf;
  if (variants) return variants.map(typeName).join(' | ');
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const named = types.map((t) => (t === 'array' ? `array of ${typeName(schema.items)}` : t));
  if (!named.length) return schema.properties ? 'object' : 'any';
  return named.join(' | ');
}

const RULES = [
  ['minimum', (v) => `≥ ${v}`],
  ['maximum', (v) => `≤ ${v}`],
  ['minLength', (v) => `at least ${v} characters`],
  ['maxLength', (v) => `at most ${v} characters`],
  ['minItems', (v) => `at least ${v} items`],
  ['maxItems', (v) => `at most ${v} items`],
  ['default', (v) => `default ${JSON.stringify(v)}`],
  ['format', (v) => v],
];

export function constraints(schema) {
  if (!schema || typeof schema !== 'object') return '';
  return RULES.filter(([key]) => schema[key] !== undefined).map(([key, say]) => say(schema[key])).join(', ');
}

// The refs a schema mentions (for "see also" links), nested ones included.
export function refsIn(schema, found = new Set()) {
  if (!schema || typeof schema !== 'object') return found;
  if (typeof schema.$ref === 'string') found.add(refName(schema.$ref));
  for (const value of Object.values(schema)) {
    if (value && typeof value === 'object') refsIn(value, found);
  }
  return found;
}

export const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

// Every operation, in the document's order, grouped by its first tag.
export function operationsByTag(doc) {
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] || 'other';
      if (!groups.has(tag)) groups.set(tag, []);
      const parameters = [...(item.parameters || []), ...(op.parameters || [])].map((p) => resolve(doc, p));
      groups.get(tag).push({ path, method, op, parameters });
    }
  }
  return [...groups.entries()].map(([tag, ops]) => ({ tag, ops }));
}
