// Every data request of the dashboard goes through `api()`: same-origin,
// with the `dcos-acs-auth-cookie` the gateway set at login (HttpOnly: this
// code never sees the token). A 401 anywhere means the session is over:
// `session` becomes null and the login page shows.
import { signal } from '@preact/signals';

/** undefined: not known yet; null: logged out; {uid}: logged in. */
export const session = signal(undefined);

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** What an error body says, in words (DC/OS IAM, Marathon and Metronome shapes). */
function describe(status, body, text) {
  if (body && typeof body === 'object') {
    const parts = [];
    if (body.description) parts.push(body.description);
    else if (body.message) parts.push(body.message);
    for (const d of body.details || []) {
      const errs = (d.errors || []).join('; ');
      if (errs && errs !== body.message) parts.push(`${d.path || ''}: ${errs}`);
    }
    if (parts.length) return parts.join(' — ');
  }
  if (status === 502 || status === 503 || status === 504) {
    return `the backend is not answering (${status}); it may be restarting — try again in a moment`;
  }
  return text ? `${status}: ${text.slice(0, 300)}` : `the request failed (${status})`;
}

/**
 * A JSON request through the gateway; resolves to the parsed body (or
 * text). `headers` replace the JSON defaults (Cosmos' media types).
 */
export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  Object.assign(init.headers, headers);
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'cannot reach the gateway: check the network, then reload', null);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (res.status === 401) {
    session.value = null;
    throw new ApiError(401, 'your session has ended: log in again', json);
  }
  if (!res.ok) throw new ApiError(res.status, describe(res.status, json, text), json);
  return json ?? text;
}

/** Who is logged in, from DC/OS' `dcos-acs-info-cookie` (base64 JSON, not secret). */
function infoCookie() {
  const c = document.cookie.split(';').map((s) => s.trim()).find((s) => s.startsWith('dcos-acs-info-cookie='));
  if (!c) return null;
  try {
    return JSON.parse(atob(decodeURIComponent(c.slice('dcos-acs-info-cookie='.length))));
  } catch {
    return null;
  }
}

/** At start: is the cookie (if any) still good? One cheap authenticated request. */
export async function checkSession() {
  try {
    await api('/metadata');
    session.value = { uid: infoCookie()?.uid || 'unknown' };
  } catch (e) {
    if (session.value === undefined) session.value = null;
  }
}

export async function login(uid, password) {
  await api('/acs/api/v1/auth/login', { method: 'POST', body: { uid, password } });
  session.value = { uid: infoCookie()?.uid || uid };
}

export async function logout() {
  try {
    await api('/acs/api/v1/auth/logout', { method: 'POST' });
  } finally {
    session.value = null;
  }
}

/** `/a/b` → the path of an app in the dashboard. */
export const appHref = (id) => `/services/apps${id}`;
export const taskLogHref = (taskId, agentId) =>
  `/tasks/${encodeURIComponent(taskId)}/logs${agentId ? `?agent=${encodeURIComponent(agentId)}` : ''}`;
