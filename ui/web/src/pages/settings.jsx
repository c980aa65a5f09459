// Settings: the gateway's users (`/acs/api/v1/users`): list, add, remove.
// Package repositories come with the catalog.
import { useState } from 'preact/hooks';
import { api, session } from '../api.js';
import { useApi, useAction } from '../hooks.js';
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
    </section>
  );
}
