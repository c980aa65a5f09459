// Settings: the gateway's users (`/acs/api/v1/users`): list, add, remove;
// the catalog's package repositories (Cosmos' `/package/repository/*`):
// list in order, add (at a position), remove.
import { useState } from 'preact/hooks';
import { api, session } from '../api.js';
import { cosmos } from '../cosmos.js';
import { useApi, useLoad, useAction } from '../hooks.js';
import { ErrorBox, Loading, ConfirmButton } from '../ui.jsx';

export function Settings() {
  const { data, error, reload } = useApi('/acs/api/v1/users');
  const action = useAction();
  const [uid, setUid] = useState('');
  const [password, setPassword] = useState('');
  const [description, setDescription] = useState('');
  const add = async (e) => {
    e.preventDefault();
    const ok = await action.run(`Added ${uid}`, () =>
      api(`/acs/api/v1/users/${encodeURIComponent(uid)}`, { method: 'PUT', body: { password, description } }));
    if (ok !== undefined) {
      setUid('');
      setPassword('');
      setDescription('');
    }
    reload();
  };
  return (
    <section>
      <h1>Settings</h1>
      <h2>Users</h2>
      <ErrorBox error={error} what="Cannot list the users" />
      <ErrorBox error={action.error} what="That did not work" />
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      {!data ? <Loading what="users" /> : (
        <div class="scroll">
          <table>
            <thead><tr><th scope="col">User</th><th scope="col">Description</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {data.array.map((u) => (
                <tr>
                  <th scope="row">{u.uid}{u.is_service ? ' (service account)' : ''}</th>
                  <td>{u.description}</td>
                  <td>
                    {u.uid !== session.value.uid && (
                      <ConfirmButton label="Remove" danger confirm={`Remove ${u.uid}? Their tokens stay valid until they expire.`}
                        disabled={action.busy}
                        onConfirm={() => action.run(`Removed ${u.uid}`, () => api(`/acs/api/v1/users/${encodeURIComponent(u.uid)}`, { method: 'DELETE' })).then(reload)} />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Add a user</h2>
      <form class="stack" onSubmit={add}>
        <label>User <input name="new-uid" required pattern="[a-zA-Z0-9@._-]+" autocomplete="off" value={uid} onInput={(e) => setUid(e.currentTarget.value)} /></label>
        <label>Password <input name="new-password" type="password" required autocomplete="new-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} /></label>
        <label>Description <input name="new-description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
        <button type="submit" class="primary" disabled={action.busy}>Add</button>
      </form>
      <Repositories />
    </section>
  );
}

/** The package repositories, in the order the catalog reads them. */
function Repositories() {
  const { data, error, reload } = useLoad('repositories', () => cosmos('repository/list', {}));
  const action = useAction();
  const [name, setName] = useState('');
  const [uri, setUri] = useState('');
  const [position, setPosition] = useState('');
  const list = (data && data.repositories) || [];
  const posError = position.trim() && !(/^\d+$/.test(position.trim()) && +position >= 1 && +position <= list.length + 1)
    ? `Give a number from 1 to ${list.length + 1}, or leave it empty to add the repository last.`
    : null;
  const [missing, setMissing] = useState(false);
  const add = async (e) => {
    e.preventDefault();
    setMissing(!name.trim() || !uri.trim());
    if (!name.trim() || !uri.trim()) {
      document.getElementById(name.trim() ? 'repo-uri' : 'repo-name').focus();
      return;
    }
    if (posError) {
      document.getElementById('repo-position').focus();
      return;
    }
    const body = { name: name.trim(), uri: uri.trim() };
    if (position.trim()) body.index = Number(position) - 1;
    const ok = await action.run(`Added the repository ${body.name}`, () => cosmos('repository/add', body));
    if (ok !== undefined) {
      setName('');
      setUri('');
      setPosition('');
    }
    reload();
  };
  const remove = (r) =>
    action.run(`Removed the repository ${r.name}`, () => cosmos('repository/delete', { name: r.name })).then(reload);
  return (
    <>
      <h2 id="repositories">Package repositories</h2>
      <p class="muted small">The catalog reads them in this order: a package in two repositories comes from the first.</p>
      <ErrorBox error={error} what="Cannot list the repositories" />
      <ErrorBox error={action.error} what="That did not work" />
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      {!data ? (!error && <Loading what="repositories" />) : list.length === 0 ? (
        <p class="empty">No repositories: the catalog is empty. Add one below.</p>
      ) : (
        <div class="scroll">
          <table class="repositories">
            <thead><tr><th scope="col">#</th><th scope="col">Name</th><th scope="col">URI</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.map((r, i) => (
                <tr key={r.name}>
                  <td>{i + 1}</td>
                  <th scope="row">{r.name}</th>
                  <td class="uri"><code>{r.uri}</code></td>
                  <td>
                    <ConfirmButton label="Remove" danger disabled={action.busy}
                      confirm={`Remove the repository ${r.name}? Its packages leave the catalog; installed ones keep running.`}
                      onConfirm={() => remove(r)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h2>Add a repository</h2>
      <form class="stack" onSubmit={add} noValidate>
        <label>Name <input id="repo-name" name="repo-name" required autocomplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <label class="plain" for="repo-uri">URI</label>
        <input id="repo-uri" name="repo-uri" required autocomplete="off" spellcheck={false} value={uri} aria-describedby="repo-uri-help"
          onInput={(e) => setUri(e.currentTarget.value)} />
        <p id="repo-uri-help" class="help">An absolute path or file:// URI on the masters (a folder with repo/packages/…, a zip, or an index JSON file), or an http(s):// URL of an index or zip.</p>
        <label class="plain" for="repo-position">Position <span class="muted small">(optional)</span></label>
        <input id="repo-position" name="repo-position" type="number" min={1} max={list.length + 1} step={1} inputMode="numeric" value={position}
          aria-invalid={posError ? 'true' : undefined} aria-describedby={posError ? 'repo-position-error repo-position-help' : 'repo-position-help'}
          onInput={(e) => setPosition(e.currentTarget.value)} />
        {posError && <p id="repo-position-error" class="field-error">{posError}</p>}
        <p id="repo-position-help" class="help">1 puts it first; empty adds it last.</p>
        {missing && (!name.trim() || !uri.trim()) && <p class="field-error" role="alert">Give the repository a name and a URI.</p>}
        <button type="submit" class="primary" disabled={action.busy}>Add repository</button>
      </form>
    </>
  );
}
