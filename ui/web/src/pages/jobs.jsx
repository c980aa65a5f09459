// Jobs (Metronome v1 through the gateway): the list with schedule, next
// run and last result, and the dependency graph (Chronos v1's parents);
// a job's detail with active runs and run history with durations; run
// now and stop a run; enable or disable a schedule; create and edit a job
// with a form or its JSON (jobform.jsx).
import { useState } from 'preact/hooks';
import { useLocation, useRoute } from 'preact-iso';
import { api } from '../api.js';
import { useApi, useAction } from '../hooks.js';
import { ErrorBox, Loading, ConfirmButton, fmtTime, fmtAgo, fmtDuration } from '../ui.jsx';
import { JobEditor, TEMPLATE } from './jobform.jsx';
import { JobGraph } from './jobgraph.jsx';

const M = '/service/metronome/v1';
export const jobHref = (id) => `/jobs/${encodeURIComponent(id)}`;

function lastResult(h) {
  if (!h) return '—';
  const ok = h.lastSuccessAt ? new Date(h.lastSuccessAt).getTime() : 0;
  const bad = h.lastFailureAt ? new Date(h.lastFailureAt).getTime() : 0;
  if (!ok && !bad) return 'never ran';
  return ok >= bad ? `succeeded ${fmtAgo(h.lastSuccessAt)}` : `failed ${fmtAgo(h.lastFailureAt)}`;
}

export function Jobs() {
  const { data, error, reload } = useApi(`${M}/jobs?embed=activeRuns&embed=schedules&embed=historySummary`, { every: 10000 });
  const action = useAction();
  if (!data) return error ? <ErrorBox error={error} what="Cannot list the jobs" /> : <Loading what="jobs" />;
  const jobs = [...data].sort((a, b) => a.id.localeCompare(b.id));
  return (
    <section data-loaded="jobs">
      <div class="titlebar">
        <h1>Jobs</h1>
        <a class="button primary" href="/jobs/new">Create a job</a>
      </div>
      <ErrorBox error={error} what="Not up to date" />
      <ErrorBox error={action.error} what="That did not work" />
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      {jobs.length === 0 ? <p class="empty">No jobs yet. <a href="/jobs/new">Create a job</a> or run <code>dcos job add job.json</code>.</p> : (
        <div class="scroll">
          <table>
            <thead><tr><th scope="col">Job</th><th scope="col">Schedule</th><th scope="col">Next run</th><th scope="col">Last run</th><th scope="col">Running</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {jobs.map((j) => {
                const s = (j.schedules || [])[0];
                return (
                  <tr>
                    <th scope="row"><a href={jobHref(j.id)}>{j.id}</a><div class="muted small">{j.description}</div></th>
                    <td>{s ? <><code>{s.cron}</code> {s.timezone || ''}{s.enabled === false ? ' (disabled)' : ''}</> : 'on demand'}</td>
                    <td>{s && s.nextRunAt ? fmtAgo(s.nextRunAt) : '—'}</td>
                    <td>{lastResult(j.historySummary)}</td>
                    <td>{(j.activeRuns || []).length}</td>
                    <td><button type="button" disabled={action.busy}
                      onClick={() => action.run(`Started a run of ${j.id}`, () => api(`${M}/jobs/${encodeURIComponent(j.id)}/runs`, { method: 'POST' })).then(reload)}>Run now</button></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <h2>Dependencies</h2>
      <JobGraph />
    </section>
  );
}

export function JobDetail() {
  const { id } = useRoute().params;
  const base = `${M}/jobs/${encodeURIComponent(id)}`;
  const { data, error, reload } = useApi(`${base}?embed=activeRuns&embed=history&embed=schedules`, { every: 5000, deps: [id] });
  // Its parents: Chronos' view of the job (Metronome's has none).
  const chronos = useApi(`/service/chronos/v1/scheduler/job/${encodeURIComponent(id)}`, { deps: [id] });
  const parents = (chronos.data && chronos.data.parents) || [];
  const action = useAction();
  const [editing, setEditing] = useState(false);
  if (!data) {
    return <section><h1>{id}</h1>{error ? <ErrorBox error={error} what={error.status === 404 ? 'There is no such job' : 'Cannot load the job'} /> : <Loading what="the job" />}</section>;
  }
  const h = data.history || {};
  const runs = [
    ...(h.successfulFinishedRuns || []).map((r) => ({ ...r, result: 'succeeded' })),
    ...(h.failedFinishedRuns || []).map((r) => ({ ...r, result: 'failed' })),
  ].sort((a, b) => (b.createdAt || '').localeCompare(a.createdAt || ''));
  const act = (what, fn) => action.run(what, fn).then(reload);
  if (editing) {
    return (
      <section>
        <nav class="crumbs" aria-label="Breadcrumb"><a href="/jobs">Jobs</a> / <a href={jobHref(id)}>{id}</a> / Edit</nav>
        <h1>Edit {id}</h1>
        <JobEditor existing={data} label="Save" busyLabel="Saving…" onCancel={() => setEditing(false)}
          onDone={() => { setEditing(false); action.setDone('Saved'); reload(); }} />
      </section>
    );
  }
  const toggle = (s) => act(s.enabled === false ? `Enabled the schedule ${s.id}` : `Disabled the schedule ${s.id}`, () => {
    const { nextRunAt, ...rest } = s;
    return api(`${base}/schedules/${encodeURIComponent(s.id)}`, { method: 'PUT', body: { ...rest, enabled: s.enabled === false } });
  });
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/jobs">Jobs</a> / {id}</nav>
      <div class="titlebar">
        <h1>{id}</h1>
        <div class="actions">
          <button type="button" class="primary" disabled={action.busy} onClick={() => act('Started a run', () => api(`${base}/runs`, { method: 'POST' }))}>Run now</button>
          <button type="button" onClick={() => setEditing(true)}>Edit</button>
        </div>
      </div>
      {data.description && <p>{data.description}</p>}
      <ErrorBox error={action.error} what="That did not work" />
      <ErrorBox error={error} what="Not up to date" />
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      <dl class="facts">
        <div><dt>Command</dt><dd><code>{(data.run || {}).cmd || '—'}</code></dd></div>
        {parents.length > 0 && <div><dt>Runs after</dt><dd data-testid="parents">{parents.map((p, i) => <>{i ? ', ' : ''}<a href={jobHref(p)}>{p}</a></>)}</dd></div>}
        <div><dt>Runs</dt><dd>{h.successCount || 0} succeeded, {h.failureCount || 0} failed</dd></div>
      </dl>
      <h2>Schedules</h2>
      {(data.schedules || []).length === 0 ? <p class="empty">None: it runs on demand, or after its parents.</p> : (
        <ul class="schedules">
          {data.schedules.map((s) => (
            <li data-testid={`schedule-${s.id}`}>
              <code>{s.cron}</code> {s.timezone || 'UTC'}, {s.concurrencyPolicy || 'ALLOW'}:{' '}
              <strong>{s.enabled === false ? 'disabled' : `enabled, next ${fmtAgo(s.nextRunAt)}`}</strong>{' '}
              <button type="button" disabled={action.busy} onClick={() => toggle(s)}>{s.enabled === false ? 'Enable' : 'Disable'}</button>
            </li>
          ))}
        </ul>
      )}
      <h2>Active runs</h2>
      {(data.activeRuns || []).length === 0 ? <p class="empty">None.</p> : (
        <ul>
          {data.activeRuns.map((r) => (
            <li>{r.id}: {r.status} since {fmtTime(r.createdAt)}{' '}
              <ConfirmButton label="Stop" confirm="Stop this run?" disabled={action.busy}
                onConfirm={() => act('Stopped', () => api(`${base}/runs/${encodeURIComponent(r.id)}/actions/stop`, { method: 'POST' }))} />
            </li>
          ))}
        </ul>
      )}
      <h2>History</h2>
      {runs.length === 0 ? <p class="empty">No finished run yet.</p> : (
        <div class="scroll">
          <table>
            <thead><tr><th scope="col">Run</th><th scope="col">Result</th><th scope="col">Started</th><th scope="col">Took</th></tr></thead>
            <tbody>
              {runs.map((r) => (
                <tr>
                  <th scope="row">{r.id}</th>
                  <td class={r.result === 'failed' ? 'bad' : 'good'}>{r.result}</td>
                  <td>{fmtTime(r.createdAt)}</td>
                  <td>{r.finishedAt && r.createdAt ? fmtDuration((new Date(r.finishedAt) - new Date(r.createdAt)) / 1000) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** A new job: the form or its Metronome JSON (`POST /v1/jobs`). */
export function CreateJob() {
  const { route } = useLocation();
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/jobs">Jobs</a> / New job</nav>
      <h1>Create a job</h1>
      <JobEditor initial={TEMPLATE} label="Create" busyLabel="Creating…" onDone={(job) => route(jobHref(job.id))} />
    </section>
  );
}
