// Nodes: the agents the master knows, with resources used of total,
// attributes and whether they are active, draining or drained; drain one
// (the operator API's DRAIN_AGENT: its tasks are killed, their schedulers
// start them elsewhere, it gets no more offers) and reactivate it. Reloads when the master's
// event stream moves (agents added or removed, tasks changing), and every
// 30 s for what no event reports.
import { api } from '../api.js';
import { useApi, useAction } from '../hooks.js';
import { ErrorBox, Loading, ConfirmButton, fmtMem, fmtNum, fmtAgo } from '../ui.jsx';

const operator = (type, agentId) =>
  api('/mesos/api/v1', { method: 'POST', body: { type, [type.toLowerCase()]: { agent_id: { value: agentId } } } });

function agentState(a) {
  const drain = a.drain_info && a.drain_info.state;
  if (drain) return drain.toLowerCase(); // draining, drained
  if (a.deactivated) return 'deactivated';
  return a.active ? 'active' : 'inactive';
}

export function Nodes() {
  const { data, error, reload } = useApi('/mesos/master/slaves', { live: 'master', every: 30000 });
  const action = useAction();
  if (!data) return error ? <ErrorBox error={error} what="Cannot list the nodes" /> : <Loading what="nodes" />;
  const agents = [...(data.slaves || [])].sort((a, b) => a.hostname.localeCompare(b.hostname));
  return (
    <section>
      <h1>Nodes</h1>
      <ErrorBox error={error} what="Not up to date" />
      <ErrorBox error={action.error} what="That did not work" />
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      {agents.length === 0 ? <p class="empty">No agent has registered. Add one with <code>dcos install --role agent --join …</code>.</p> : (
        <div class="scroll">
          <table class="nodes">
            <thead>
              <tr><th scope="col">Host</th><th scope="col">State</th><th scope="col">CPU</th><th scope="col">Memory</th><th scope="col">Disk</th><th scope="col">GPU</th><th scope="col">Attributes</th><th scope="col">Registered</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
            </thead>
            <tbody>
              {agents.map((a) => {
                const used = a.used_resources || {};
                const total = a.resources || {};
                const pair = (k, f) => `${f(used[k] || 0)} / ${f(total[k] || 0)}`;
                return (
                  <tr>
                    <th scope="row" title={a.id}>{a.hostname}<div class="muted small">{a.id}</div></th>
                    <td data-testid="node-state">{agentState(a)}</td>
                    <td><Meter used={used.cpus} total={total.cpus} label={pair('cpus', fmtNum)} /></td>
                    <td><Meter used={used.mem} total={total.mem} label={pair('mem', fmtMem)} /></td>
                    <td><Meter used={used.disk} total={total.disk} label={pair('disk', fmtMem)} /></td>
                    <td>{total.gpus ? pair('gpus', fmtNum) : '—'}</td>
                    <td>{Object.entries(a.attributes || {}).map(([k, v]) => <span class="chip">{k}:{String(v)}</span>)}</td>
                    <td>{a.registered_time ? fmtAgo(new Date(a.registered_time * 1000).toISOString()) : '—'}</td>
                    <td class="nowrap">
                      {agentState(a) === 'active' ? (
                        <ConfirmButton label="Drain" confirm={`Kill the tasks on ${a.hostname} (their schedulers start them elsewhere) and offer it no more?`}
                          disabled={action.busy}
                          onConfirm={() => action.run(`Draining ${a.hostname}`, () => operator('DRAIN_AGENT', a.id)).then(reload)} />
                      ) : (
                        <button type="button" disabled={action.busy}
                          onClick={() => action.run(`Reactivated ${a.hostname}`, () => operator('REACTIVATE_AGENT', a.id)).then(reload)}>Reactivate</button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Meter({ used = 0, total = 0, label }) {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  return (
    <div class="meter" role="img" aria-label={`${label} used`}>
      <span>{label}</span>
      <div class="bar"><div style={{ width: `${pct}%` }} /></div>
    </div>
  );
}
