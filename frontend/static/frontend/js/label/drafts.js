/* Palate labeling page: what the labeler entered, kept per assignment in this
 * tab's sessionStorage, so a reload or an expired lease that is still theirs
 * loses nothing; and the idempotency key of each assignment, reused by every
 * submit attempt (a reload too), so submitting twice records one annotation. */

const draftKey = (id) => `palate:draft:${id}`;
const idemKey = (id) => `palate:key:${id}`;

function storage() {
  try {
    return window.sessionStorage;
  } catch (error) {
    return null; // storage disabled: everything still works, without drafts
  }
}

export function storedKey(assignmentId, randomKey) {
  const store = storage();
  let key = store && store.getItem(idemKey(assignmentId));
  if (!key) {
    key = randomKey();
    if (store) store.setItem(idemKey(assignmentId), key);
  }
  return key;
}

export function draftSave(assignmentId, draft) {
  const store = storage();
  if (!store) return;
  try {
    store.setItem(draftKey(assignmentId), JSON.stringify(draft));
  } catch (error) {
    /* quota: drafts are a convenience */
  }
}

export function draftLoad(assignmentId) {
  const store = storage();
  const raw = store && store.getItem(draftKey(assignmentId));
  if (!raw) return null;
  try {
    return JSON.parse(raw);
  } catch (error) {
    return null;
  }
}

export function draftClear(assignmentId) {
  const store = storage();
  if (!store) return;
  store.removeItem(draftKey(assignmentId));
  store.removeItem(idemKey(assignmentId));
}
