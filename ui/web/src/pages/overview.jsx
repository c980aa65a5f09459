// Overview: CPU, memory, disk and GPU allocated vs total as charts over
// time (samples of the master's /metrics/snapshot kept in the browser
// while it is open: every 5 s and whenever the master's event stream
// moves),
// tasks by state, component health and Marathon's last events.
import { useEffect, useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import { api } from '../api.js';
import { useApi } from '../hooks.js';
import { masterTick, lastEvents } from '../live.js';
import { UsageChart } from '../chart.jsx';
import { ErrorBox, Loading, fmtTime } from '../ui.jsx';

const KEEP = 720; // an hour at one sample per 5 s
const RESOURCES = [['cpus', 'CPU', ''], ['mem', 'Memory', 'MiB'], ['disk', 'Disk', 'MiB'], ['gpus', 'GPU', '']];
/** Samples survive page changes (not reloads): {t: [], <res>_used: [], <res>_total: []}. */
const samples = signal(emptySamples());
const latest = signal(null);
const sampleError = signal(null);

function emptySamples() {
  const s = { t: [] };
  for (const [r] of RESOURCES) {
    s[`${r}_used`] = [];
    s[`${r}_total`] = [];
  }
  return s;
}

async function sample() {
  try {
    const m = await api('/mesos/metrics/snapshot');
    const s = samples.value;
    const next = { t: s.t.concat(Date.now() / 1000).slice(-KEEP) };
    for (const [r] of RESOURCES) {
      next[`${r}_used`] = s[`${r}_used`].concat(m[`master/${r}_used`] || 0).slice(-KEEP);
      next[`${r}_total`] = s[`${r}_total`].concat(m[`master/${r}_total`] || 0).slice(-KEEP);
    }
    samples.value = next;
    latest.value = m;
    sampleError.value = null;
  } catch (e) {
    sampleError.value = e;
  }
}

const TASK_STATES = ['staging', 'starting', 'running', 'killing', 'unreachable', 'finished', 'failed', 'killed', 'lost', 'error'];

export function Overview() {
  useEffect(() => {
    sample();
    const t = setInterval(sample, 5000);
    return () => clearInterval(t);
  }, []);
  const tick = masterTick.value;
  useEffect(() => {
    if (tick) sample();
  }, [tick]);
  const health = useApi('/system/health/v1', { every: 15000 });
  const s = samples.value;
  const m = latest.value;
  const showGpu = s.gpus_total.some((v) => v > 0);
  return (
    <section class="overview">
      <h1>Overview</h1>
      <ErrorBox error={sampleError.value} what="Cannot read the master's metrics" />
      <div class="charts">
        {RESOURCES.filter(([r]) => r !== 'gpus' || showGpu).map(([r, title, unit]) => (
          <UsageChart title={title} unit={unit} times={s.t} used={s[`${r}_used`]} total={s[`${r}_total`]} />
        ))}
      </div>
      <div class="columns">
        <div>
          <h2>Tasks by state</h2>
          {m ? <TaskStates m={m} /> : <Loading what="task counts" />}
          <p class="muted small">Finished, failed, killed, lost and error count every task since the master started.</p>
        </div>
        <div>
          <h2>Components</h2>
          {health.data ? <Health units={health.data.units} /> : health.error ? <ErrorBox error={health.error} what="Cannot check health" /> : <Loading what="health" />}
          {m && <p class="small">Agents: {m['master/slaves_active'] || 0} active, {m['master/slaves_disconnected'] || 0} disconnected, {m['master/slaves_unreachable'] || 0} unreachable. Frameworks: {m['master/frameworks_active'] || 0} connected.</p>}
        </div>
      </div>
      <h2>Last events</h2>
      <Events />
    </section>
  );
}

function TaskStates({ m }) {
  const rows = TASK_STATES.map((st) => [st, m[`master/tasks_${st}`] || 0]);
  const max = Math.max(1, ...rows.map(([, n]) => n));
  return (
    <table class="states">
      <tbody>
        {rows.map(([st, n]) => (
          <tr>
            <th scope="row">{st}</th>
            <td class="num" data-testid={`tasks-${st}`}>{n}</td>
            <td class="barcell" aria-hidden="true"><div class={`hbar st-${st}`} style={{ width: `${(n / max) * 100}%` }} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Health({ units }) {
  return (
    <ul class="health">
      {units.map((u) => (
        <li class={u.health === 0 ? 'good' : 'bad'}>
          <span aria-hidden="true">{u.health === 0 ? '●' : '▲'}</span> <strong>{u.name}</strong> {u.health === 0 ? 'healthy' : 'unhealthy'}
          <div class="muted small">{u.id}: {u.description}</div>
        </li>
      ))}
    </ul>
  );
}

function describe(e) {
  const d = e.data;
  switch (e.kind) {
    case 'status_update_event':
      return `${d.appId}: task ${d.taskId} is ${(d.taskStatus || '').replace('TASK_', '').toLowerCase()}${d.host ? ` on ${d.host}` : ''}`;
    case 'instance_changed_event':
      return `${d.runSpecId}: instance ${d.instanceId} ${d.condition || ''}`;
    case 'api_post_event':
      return `${(d.appDefinition || {}).id || ''} changed through the API`;
    case 'deployment_info':
      return `deployment ${(d.plan || {}).id || ''} at step ${((d.currentStep || {}).actions || []).map((a) => `${a.action} ${a.app || ''}`).join(', ')}`;
    case 'deployment_success':
      return `deployment ${d.id || (d.plan || {}).id || ''} finished`;
    case 'deployment_failed':
      return `deployment ${d.id || (d.plan || {}).id || ''} failed`;
    case 'TASK_ADDED':
      return `task ${((d.task || {}).task_id || {}).value || ''} added`;
    case 'TASK_UPDATED':
      return `task ${((d.status || {}).task_id || {}).value || ''} is ${(d.state || '').replace('TASK_', '').toLowerCase()}`;
    case 'AGENT_ADDED':
      return `agent ${(((d.agent || {}).agent_info || {}).hostname) || ''} added`;
    case 'AGENT_REMOVED':
      return `agent ${((d.agent_id || {}).value) || ''} removed`;
    default:
      return d.appId || d.id || '';
  }
}

function Events() {
  const [n, setN] = useState(10);
  const events = lastEvents.value;
  if (events.length === 0) return <p class="empty">No event since this page opened. The master’s and Marathon’s events appear here as they happen.</p>;
  return (
    <>
      <ol class="events" aria-live="polite">
        {events.slice(0, n).map((e) => (
          <li><time datetime={e.at}>{fmtTime(e.at)}</time> <code>{e.kind}</code> {describe(e)}</li>
        ))}
      </ol>
      {events.length > n && <button type="button" onClick={() => setN(50)}>Show more</button>}
    </>
  );
}
