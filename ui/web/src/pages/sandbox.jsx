// A task's sandbox, browsable and downloadable through the gateway's
// `/agent/<id>/…` (the agent's `/files/browse` and `/files/download`):
// the agent from the link (`?agent=`, Marathon knows it) or the master's
// `/master/tasks`; the directory from the agent's `/state`.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox, Loading, fmtMem, fmtTime } from '../ui.jsx';

/** The executor directory that ran `task`, from an agent's /state (as the gateway's logs.rs). */
function sandboxOf(state, task) {
  const hasTask = (e) =>
    ['tasks', 'completed_tasks', 'queued_tasks'].some((k) => (e[k] || []).some((t) => t.id === task)) || e.id === task;
  for (const fk of ['frameworks', 'completed_frameworks']) {
    for (const fw of state[fk] || []) {
      for (const ek of ['executors', 'completed_executors']) {
        for (const e of fw[ek] || []) if (hasTask(e) && e.directory) return e.directory;
      }
    }
  }
  return null;
}

async function locate(task, agentHint) {
  let agent = agentHint;
  if (!agent) {
    const { tasks } = await api('/mesos/master/tasks');
    const t = (tasks || []).find((x) => x.id === task);
    if (!t) throw new Error(`the master does not know task ${task} (any more)`);
    agent = t.slave_id;
  }
  const state = await api(`/agent/${encodeURIComponent(agent)}/state`);
  const dir = sandboxOf(state, task);
  if (!dir) throw new Error(`agent ${agent} has no sandbox for task ${task}`);
  return { agent, dir };
}

export function Sandbox({ task, agentHint }) {
  const [where, setWhere] = useState(null);
  const [path, setPath] = useState(null);
  const [entries, setEntries] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setWhere(null);
    setError(null);
    locate(task, agentHint).then((w) => { setWhere(w); setPath(w.dir); }, setError);
  }, [task, agentHint]);
  useEffect(() => {
    if (!where || !path) return;
    setEntries(null);
    api(`/agent/${encodeURIComponent(where.agent)}/files/browse?path=${encodeURIComponent(path)}`)
      .then((list) => setEntries([...list].sort((a, b) => a.path.localeCompare(b.path))), setError);
  }, [where, path]);
  if (error) return <ErrorBox error={error} what="Cannot browse the sandbox" />;
  if (!where || !entries) return <Loading what="the sandbox" />;
  const rel = path.slice(where.dir.length) || '/';
  const base = `/agent/${encodeURIComponent(where.agent)}/files`;
  return (
    <div>
      <p class="small muted">Sandbox <code>{where.dir}</code> on agent {where.agent}; showing <code>{rel}</code></p>
      <div class="scroll">
        <table class="files">
          <thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Modified</th><th scope="col">Mode</th></tr></thead>
          <tbody>
            {path !== where.dir && (
              <tr><th scope="row"><button type="button" class="link" onClick={() => setPath(path.replace(/\/[^/]+\/?$/, '') || where.dir)}>.. (up)</button></th><td /><td /><td /></tr>
            )}
            {entries.map((f) => {
              const name = f.path.split('/').pop();
              const dir = f.mode.startsWith('d');
              return (
                <tr>
                  <th scope="row">
                    {dir ? (
                      <button type="button" class="link" onClick={() => setPath(f.path)}>{name}/</button>
                    ) : (
                      <a href={`${base}/download?path=${encodeURIComponent(f.path)}`} download={name} target="_blank" rel="noopener">{name}</a>
                    )}
                  </th>
                  <td>{dir ? '—' : f.size < 1024 ? `${f.size} B` : fmtMem(f.size / 1048576)}</td>
                  <td>{fmtTime(new Date(f.mtime * 1000).toISOString())}</td>
                  <td><code>{f.mode}</code></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
