// People and faces over the REST API, and the one way a person becomes a search filter.
import { api, withParams } from './api.js';
import { filterToken } from './querytext.js';

export async function listPeople({ all = false } = {}) {
  return (await api(withParams('/api/people', { all: all ? 1 : undefined }))).people;
}

export function getPerson(id) {
  return api(`/api/people/${id}`);
}

export function updatePerson(id, changes) {
  return api(`/api/people/${id}`, { method: 'PATCH', body: changes });
}

export function mergePerson(id, into) {
  return api(`/api/people/${id}/merge`, { method: 'POST', body: { into } });
}

export function undoMerge(mergeId) {
  return api(`/api/people/merges/${mergeId}/undo`, { method: 'POST' });
}

// `rejected` is what rejectFace answered.
export function unrejectFace(rejected) {
  return api(`/api/faces/${rejected.face_id}/unreject`, {
    method: 'POST',
    body: { person_id: rejected.rejected_person_id, was_locked: rejected.was_locked },
  });
}

export async function personFaces(id) {
  return (await api(`/api/people/${id}/faces`)).faces;
}

// `target` is {person_id} for an existing person or {name} for a new (or same-named) one.
export function assignFace(faceId, target) {
  return api(`/api/faces/${faceId}/assign`, { method: 'POST', body: target });
}

export function rejectFace(faceId) {
  return api(`/api/faces/${faceId}/reject`, { method: 'POST' });
}

export function displayName(name) {
  return name ?? 'Unnamed';
}

export function faceThumbnail(faceId) {
  return `/api/faces/${faceId}/thumbnail`;
}

// A name reads better in the search bar than an id; a name holding a double quote cannot be
// quoted in the query language, so that person (and everyone unnamed) is searched by id.
export function personFilter(id, name) {
  return name && !name.includes('"') ? filterToken('person', name) : `person:${id}`;
}

export function personSearchUrl(id, name) {
  return `/?q=${encodeURIComponent(personFilter(id, name))}`;
}
