// Albums in query lines: album:"NAME", quoted the way the query parser reads it back.
export function albumQuery(name) {
  return `album:"${String(name).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}
