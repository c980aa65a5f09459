// One app: status and actions (scale, restart, suspend/resume, destroy),
// why it waits (Marathon's /v2/queue), its current deployment with steps,
// its tasks with links to their logs, the last task failure, its
// configuration (readable and as JSON) and its versions with rollback.
import { useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { api, taskLogHref } from '../api.js';
import { useApi, useAction } from '../hooks.js';
import { appStatus, waitingReasons, reasonText } from '../marathon.js';
import { AppEditor } from './appform.jsx';
import { ErrorBox, Loading, Status, ConfirmButton, fmtMem, fmtNum, fmtTime, fmtAgo, fmtDuration } from '../ui.jsx';

export function AppDetail() {
  const { rest } = useRoute();
  const id = `/${(rest || '').split('/').filter(Boolean).join('/')}`;
  const enc = id.split('/').map(encodeURIComponent).join('/');
  const { data, error, reload } = useApi(
    [`/marathon/v2/apps${enc}?embed=app.taskStats`, '/marathon/v2/queue', '/marathon/v2/deployments', `/marathon/v2/apps${enc}/versions`],
    { live: 'marathon', deps: [id] },
  );
  const action = useAction();
  const [retry, setRetry] = useState(null);
  const { route } = useLocation();
  if (!data) {
    return (
      <section>
        <h1>{id}</h1>
        {error ? <ErrorBox error={error} what={error.status === 404 ? 'There is no such app' : 'Cannot load the app'} /> : <Loading what="the app" />}
      </section>
    );
  }
  const [{ app }, { queue }, deployments, { versions }] = data;
  const queued = queue.find((q) => (q.app || {}).id === id);
  const status = appStatus(app, queued);
  const mine = deployments.filter((d) => (d.affectedApps || []).includes(id));
  // Marathon refuses (409) to change an app while a deployment holds it;
  // the error then offers to override it (`?force=true`), as DC/OS' UI did.
  const act = (what, fn) => {
    setRetry(null);
    return action.run(what, () => fn(false)).then((r) => {
      if (r === undefined) setRetry(() => () => action.run(what, () => fn(true)).then(() => { setRetry(null); reload(); }));
      reload();
      return r;
    });
  };
  const put = (body) => (force) => api(`/marathon/v2/apps${enc}${force ? '?force=true' : ''}`, { method: 'PUT', body });
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/services">Services</a> / {id}</nav>
      <div class="titlebar">
        <h1>{id}</h1>
        <Status status={status} />
      </div>
      <dl class="facts">
        <div><dt>Instances</dt><dd data-testid="instances">{app.tasksRunning || 0} running of {app.instances}</dd></div>
        <div><dt>Healthy</dt><dd>{app.healthChecks && app.healthChecks.length ? app.tasksHealthy || 0 : 'no health checks'}</dd></div>
        <div><dt>CPU</dt><dd>{fmtNum(app.cpus)}</dd></div>
        <div><dt>Memory</dt><dd>{fmtMem(app.mem)}</dd></div>
        <div><dt>Disk</dt><dd>{fmtMem(app.disk || 0)}</dd></div>
        <div><dt>Version</dt><dd title={app.version}>{fmtTime(app.version)}</dd></div>
      </dl>
      <div class="actions" role="group" aria-label="Actions">
        <Scale current={app.instances} busy={action.busy} onScale={(n) => act(`Scaled to ${n}`, put({ instances: n }))} />
        <button type="button" disabled={action.busy} onClick={() => act('Restarting', (force) => api(`/marathon/v2/apps${enc}/restart${force ? '?force=true' : ''}`, { method: 'POST' }))}>
          Restart
        </button>
        {app.instances > 0 ? (
          <ConfirmButton label="Suspend" confirm={`Scale ${id} to 0?`} disabled={action.busy}
            onConfirm={() => act('Suspended', put({ instances: 0 }))} />
        ) : (
          <button type="button" disabled={action.busy} onClick={() => act('Resumed', put({ instances: 1 }))}>Resume</button>
        )}
        <ConfirmButton label="Destroy" danger confirm={`Destroy ${id} and kill its tasks?`} disabled={action.busy}
          onConfirm={() => action.run('Destroyed', () => api(`/marathon/v2/apps${enc}?force=true`, { method: 'DELETE' })).then((r) => r && route('/services'))} />
      </div>
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      <ErrorBox error={action.error} what="That did not work" />
      {retry && action.error && action.error.status === 409 && (
        <p><button type="button" class="danger" onClick={retry}>Override the deployment and do it anyway</button></p>
      )}
      <ErrorBox error={error} what="Not up to date" />

      {queued && <Waiting q={queued} />}
      {mine.map((d) => <Deployment d={d} busy={action.busy}
        onCancel={() => act('Deployment rolled back', () => api(`/marathon/v2/deployments/${encodeURIComponent(d.id)}`, { method: 'DELETE' }))} />)}

      <h2>Tasks</h2>
      <Tasks app={app} busy={action.busy} onKill={(t, scale) =>
        act(scale ? 'Killed and scaled down' : 'Killed', (force) => api(`/marathon/v2/apps${enc}/tasks/${encodeURIComponent(t.id)}?scale=${scale}${force ? '&force=true' : ''}`, { method: 'DELETE' }))} />

      {app.lastTaskFailure && <LastFailure f={app.lastTaskFailure} />}

      <h2>Configuration</h2>
      <Config app={app} enc={enc} onSaved={(r) => { action.setDone(`Saved: deploying the new version${r && r.deploymentId ? ` (deployment ${r.deploymentId})` : ''}`); reload(); }} />

      <h2>Versions</h2>
      <ul class="versions">
        {(versions || []).slice().sort().reverse().slice(0, 20).map((v) => (
          <li>
            <span title={v}>{fmtTime(v)}</span>
            {v === app.version ? <span class="muted"> (current)</span> : (
              <ConfirmButton label="Roll back" confirm={`Go back to ${fmtTime(v)}?`} disabled={action.busy}
                onConfirm={() => act('Rolling back', put({ version: v }))} />
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Scale({ current, busy, onScale }) {
  const [n, setN] = useState(null);
  const value = n ?? current;
  return (
    <form class="inline" onSubmit={(e) => { e.preventDefault(); onScale(Number(value)); setN(null); }}>
      <label>
        Instances
        <input name="instances" type="number" min="0" step="1" value={value} onInput={(e) => setN(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled={busy || Number(value) === current}>Scale</button>
    </form>
  );
}

function Waiting({ q }) {
  const reasons = waitingReasons(q);
  const delay = q.delay && q.delay.timeLeftSeconds > 0 ? q.delay.timeLeftSeconds : 0;
  return (
    <div class="panel waiting" role="status">
      <h2>Why it is waiting</h2>
      <p>{q.count} instance{q.count === 1 ? '' : 's'} to launch, waiting since {fmtTime(q.since)}.</p>
      {delay > 0 && (
        <p>Backing off after failures: the next launch is in {fmtDuration(delay)} (at {new Date(Date.now() + delay * 1000).toLocaleTimeString()}).</p>
      )}
      {reasons.length > 0 ? (
        <ul>
          {reasons.map((r) => (
            <li><strong>{reasonText(r.reason)}</strong>{/^[A-Z]/.test(r.reason) ? ` (${r.reason})` : ''}: {r.declined} offer{r.declined === 1 ? '' : 's'} declined</li>
          ))}
        </ul>
      ) : delay === 0 && <p class="muted">No offer has been declined yet: waiting for the master to offer resources.</p>}
    </div>
  );
}

function Deployment({ d, onCancel, busy }) {
  return (
    <div class="panel">
      <h2>Deployment in progress</h2>
      <p>Step {d.currentStep} of {d.totalSteps}, started {fmtAgo(d.version)}.</p>
      <ol class="steps">
        {(d.steps || []).map((s, i) => (
          <li class={i + 1 < d.currentStep ? 'done' : i + 1 === d.currentStep ? 'current' : ''}>
            {(s.actions || []).map((a) => `${a.action} ${a.app || a.pod || ''}`).join(', ')}
          </li>
        ))}
      </ol>
      <ConfirmButton label="Roll back deployment" confirm="Stop it and go back?" disabled={busy} onConfirm={onCancel} />
    </div>
  );
}

function Tasks({ app, onKill, busy }) {
  const tasks = app.tasks || [];
  if (tasks.length === 0) return <p class="empty">No tasks.</p>;
  return (
    <div class="scroll">
      <table class="tasks">
        <thead>
          <tr><th scope="col">Task</th><th scope="col">State</th><th scope="col">Host</th><th scope="col">Ports</th><th scope="col">Health</th><th scope="col">Started</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
        </thead>
        <tbody>
          {tasks.map((t) => {
            const hc = t.healthCheckResults || [];
            const health = hc.length === 0 ? '—' : hc.every((h) => h.alive) ? 'healthy' : 'unhealthy';
            return (
              <tr>
                <th scope="row"><a href={taskLogHref(t.id, t.slaveId)} title="Open its log and sandbox">{t.id}</a></th>
                <td>{(t.state || '').replace('TASK_', '').toLowerCase()}</td>
                <td>{t.host}</td>
                <td>{(t.ports || []).join(', ') || '—'}</td>
                <td>{health}</td>
                <td title={t.startedAt}>{fmtAgo(t.startedAt || t.stagedAt)}</td>
                <td class="nowrap">
                  <ConfirmButton label="Kill" confirm="Kill it (Marathon replaces it)?" disabled={busy} onConfirm={() => onKill(t, false)} />
                  <ConfirmButton label="Kill and scale" confirm="Kill it and lower the instances?" disabled={busy} onConfirm={() => onKill(t, true)} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function LastFailure({ f }) {
  return (
    <div class="panel failure">
      <h2>Last task failure</h2>
      <p>{f.state} at {fmtTime(f.timestamp)} on {f.host}: {f.message || 'no message'}</p>
      <p class="muted small">Task {f.taskId} (version {f.version})</p>
    </div>
  );
}

const HIDDEN = new Set(['tasks', 'deployments', 'lastTaskFailure', 'tasksRunning', 'tasksStaged', 'tasksHealthy', 'tasksUnhealthy', 'taskStats', 'readinessCheckResults']);

const EDIT_HIDDEN = new Set([...HIDDEN, 'version', 'versionInfo']);

function Config({ app, enc, onSaved }) {
  const [json, setJson] = useState(false);
  const [editing, setEditing] = useState(false);
  const config = Object.fromEntries(Object.entries(app).filter(([k]) => !HIDDEN.has(k)));
  if (editing) {
    const editable = Object.fromEntries(Object.entries(app).filter(([k]) => !EDIT_HIDDEN.has(k)));
    return (
      <div class="panel">
        <h3>Edit {app.id}</h3>
        <p class="muted small">Saving deploys a new version (PUT /v2/apps{app.id}); the deployment shows above.</p>
        <AppEditor initial={editable} idLocked label="Save" busyLabel="Saving…" onCancel={() => setEditing(false)}
          submit={(body, force) => api(`/marathon/v2/apps${enc}${force ? '?force=true' : ''}`, { method: 'PUT', body })}
          onDone={(r) => { setEditing(false); onSaved(r); }} />
      </div>
    );
  }
  return (
    <div>
      <div role="group" aria-label="Show the configuration as" class="toggle">
        <button type="button" aria-pressed={!json} onClick={() => setJson(false)}>Readable</button>
        <button type="button" aria-pressed={json} onClick={() => setJson(true)}>JSON</button>
        <button type="button" onClick={() => setEditing(true)}>Edit</button>
      </div>
      {json ? (
        <pre class="json" tabIndex={0} aria-label="Configuration as JSON">{JSON.stringify(config, null, 2)}</pre>
      ) : (
        <dl class="config">
          {config.cmd && <div><dt>Command</dt><dd><code>{config.cmd}</code></dd></div>}
          {config.args && <div><dt>Arguments</dt><dd><code>{config.args.join(' ')}</code></dd></div>}
          {config.container && config.container.docker && <div><dt>Image</dt><dd>{config.container.docker.image}</dd></div>}
          <div><dt>Resources</dt><dd>{fmtNum(config.cpus)} CPU, {fmtMem(config.mem)}, {fmtMem(config.disk || 0)} disk{config.gpus ? `, ${config.gpus} GPU` : ''}</dd></div>
          {(config.constraints || []).length > 0 && <div><dt>Constraints</dt><dd>{config.constraints.map((c) => c.join(' ')).join('; ')}</dd></div>}
          {(config.portDefinitions || []).length > 0 && <div><dt>Ports</dt><dd>{config.portDefinitions.map((p) => `${p.name || ''}${p.name ? ' ' : ''}${p.port}/${p.protocol || 'tcp'}`).join(', ')}</dd></div>}
          {Object.keys(config.env || {}).length > 0 && <div><dt>Environment</dt><dd>{Object.entries(config.env).map(([k, v]) => `${k}=${typeof v === 'string' ? v : '(secret)'}`).join(' ')}</dd></div>}
          {Object.keys(config.labels || {}).length > 0 && <div><dt>Labels</dt><dd>{Object.entries(config.labels).map(([k, v]) => `${k}=${v}`).join(' ')}</dd></div>}
          {(config.healthChecks || []).length > 0 && <div><dt>Health checks</dt><dd>{config.healthChecks.map((h) => `${h.protocol} ${h.path || ''} every ${h.intervalSeconds} s`).join('; ')}</dd></div>}
          {config.upgradeStrategy && <div><dt>Upgrades</dt><dd>at least {config.upgradeStrategy.minimumHealthCapacity * 100}% healthy, at most {config.upgradeStrategy.maximumOverCapacity * 100}% over</dd></div>}
        </dl>
      )}
    </div>
  );
}
