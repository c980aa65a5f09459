// A job's definition as a form and as Metronome JSON (create, edit). The
// form has the common fields and the first schedule (cron, time zone,
// concurrency, enabled) or the parents it runs after (Metronome's
// `dependencies`, Chronos' `parents`); the rest stays in the JSON.
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { useApi } from '../hooks.js';
import { splitPath } from '../jsonpos.js';
import { useDoc, withKey, serverErrors, errorsUnder, DualEditor, TextField, NumField, SelectField, MapRows } from '../formparts.jsx';
import { ErrorBox, Loading } from '../ui.jsx';

const M = '/service/metronome/v1';

export const TEMPLATE = {
  id: 'hello.job',
  description: 'says hello',
  run: { cmd: 'echo hello from a job', cpus: 0.1, mem: 32, disk: 0 },
};

const FORM_PATHS = [['id'], ['description'], ['run', 'cmd'], ['run', 'cpus'], ['run', 'mem'], ['run', 'disk'], ['run', 'env'], ['schedules'], ['dependencies']];
const inForm = (path) => {
  const segs = splitPath(path);
  return FORM_PATHS.some((p) => p.every((s, i) => segs[i] === s));
};
const check = (job) => (!job.id ? 'The job needs an id, such as nightly.backup.' : !job.run || typeof job.run !== 'object' ? 'The job needs a "run".' : null);

/** Create (`initial`) or edit (`existing`, a job as GET returns it with its schedules). */
export function JobEditor({ existing, ...rest }) {
  if (!existing) return <JobForm {...rest} />;
  return <EditJob existing={existing} {...rest} />;
}

/** An existing job: its parents come from Chronos (Metronome does not send them). */
function EditJob({ existing, ...rest }) {
  const { data, error } = useApi(`/service/chronos/v1/scheduler/job/${encodeURIComponent(existing.id)}`);
  if (!data && !error) return <Loading what="the job's definition" />;
  const { activeRuns, history, historySummary, schedules, ...spec } = existing;
  const initial = { ...spec };
  if (schedules && schedules.length) initial.schedules = schedules.map(({ nextRunAt, ...s }) => s);
  const parents = (data && data.parents) || [];
  if (parents.length) initial.dependencies = parents.map((id) => ({ id }));
  return (
    <>
      <ErrorBox error={error} what="Cannot read its parents from Chronos" />
      <JobForm initial={initial} editing={existing.id} before={(schedules || []).map((s) => s.id)} {...rest} />
    </>
  );
}

function JobForm({ initial, editing, before = [], label, busyLabel, onDone, onCancel }) {
  const [doc, fromForm, fromText] = useDoc(initial, check);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const errors = serverErrors(error);
  const submit = async (e) => {
    e.preventDefault();
    if (doc.problem) {
      document.getElementById('job-id')?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const job = doc.obj;
      let answer;
      if (editing) {
        const base = `${M}/jobs/${encodeURIComponent(editing)}`;
        answer = await api(base, { method: 'PUT', body: job });
        // A PUT without schedules keeps them: remove the ones taken out.
        const kept = new Set((job.schedules || []).map((s) => s.id));
        for (const sid of before.filter((s) => !kept.has(s))) {
          await api(`${base}/schedules/${encodeURIComponent(sid)}`, { method: 'DELETE' });
        }
      } else answer = await api(`${M}/jobs`, { method: 'POST', body: job });
      onDone({ ...answer, id: job.id });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="jobform" onSubmit={submit} noValidate>
      <DualEditor name="job" doc={doc} fromText={fromText} errors={errors} known={inForm}
        form={<JobFields job={doc.obj} set={fromForm} errors={errors} editing={editing} />} />
      {doc.problem && !doc.broken && <p class="error">{doc.problem}</p>}
      <ErrorBox error={error} what="Metronome refused the job" />
      <div class="actions">
        <button type="submit" class="primary" disabled={!!doc.problem || busy}>{busy ? busyLabel : label}</button>
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

function JobFields({ job, set, errors, editing }) {
  const run = job.run || {};
  const putRun = (k) => (v) => set({ ...job, run: withKey(run, k, v) });
  const sched = (job.schedules || [])[0];
  const putSched = (k) => (v) => set({ ...job, schedules: [withKey(sched, k, v), ...(job.schedules || []).slice(1)] });
  const setScheduled = (on) => set(withKey(job, 'schedules', on
    ? [{ id: 'default', cron: '0 * * * *', timezone: 'UTC', concurrencyPolicy: 'ALLOW', enabled: true }]
    : undefined));
  const [parentsDraft, setParentsDraft] = useState(null); // "a, " while typing
  const parents = parentsDraft ?? (job.dependencies || []).map((d) => d.id).join(', ');
  const setParents = (text) => {
    setParentsDraft(text);
    const ids = text.split(',').map((s) => s.trim()).filter(Boolean);
    set(withKey(job, 'dependencies', ids.length ? ids.map((id) => ({ id })) : undefined));
  };
  return (
    <div class="fields">
      <div class="grid">
        <TextField id="job-id" label="ID" value={job.id} onChange={(v) => set(withKey(job, 'id', v))} errs={errorsUnder(errors, '/id')}
          readOnly={!!editing} help={editing ? 'The id of a job cannot change.' : 'Lowercase words joined by dots, such as nightly.backup.'} required />
        <TextField id="job-description" label="Description" value={job.description} onChange={(v) => set(withKey(job, 'description', v))}
          errs={errorsUnder(errors, '/description')} />
      </div>
      <TextField id="job-cmd" label="Command" value={run.cmd} onChange={putRun('cmd')} errs={errorsUnder(errors, '/run/cmd')}
        help="Run by /bin/sh; the run succeeds when it exits with 0." />
      <div class="grid four">
        <NumField id="job-cpus" label="CPUs" value={run.cpus} onChange={putRun('cpus')} errs={errorsUnder(errors, '/run/cpus')} min="0" />
        <NumField id="job-mem" label="Memory (MiB)" value={run.mem} onChange={putRun('mem')} errs={errorsUnder(errors, '/run/mem')} min="0" />
        <NumField id="job-disk" label="Disk (MiB)" value={run.disk} onChange={putRun('disk')} errs={errorsUnder(errors, '/run/disk')} min="0" />
      </div>
      <MapRows id="job-env" legend="Environment variables" value={run.env} onChange={putRun('env')} addLabel="Add a variable"
        errs={errorsUnder(errors, '/run/env')} />
      <fieldset class="rows" id="job-schedule">
        <legend>Schedule</legend>
        <label class="check"><input type="checkbox" name="job-scheduled" checked={!!sched} onChange={(e) => setScheduled(e.currentTarget.checked)} /> Run on a schedule</label>
        {sched && (
          <div class="grid four">
            <TextField id="job-cron" label="Cron" value={sched.cron} onChange={putSched('cron')} errs={errorsUnder(errors, '/schedules/0/cron')}
              help="minute hour day month weekday, e.g. 30 2 * * * (02:30 every day)" />
            <TextField id="job-timezone" label="Time zone" value={sched.timezone} onChange={putSched('timezone')}
              errs={errorsUnder(errors, '/schedules/0/timezone')} help="IANA, e.g. Europe/Paris" />
            <SelectField id="job-concurrency" label="If a run is still active" value={sched.concurrencyPolicy || 'ALLOW'} onChange={putSched('concurrencyPolicy')}
              options={[['ALLOW', 'start another (ALLOW)'], ['FORBID', 'skip this time (FORBID)']]} errs={errorsUnder(errors, '/schedules/0/concurrencyPolicy')} />
            <label class="check"><input type="checkbox" name="job-enabled" checked={sched.enabled !== false}
              onChange={(e) => putSched('enabled')(e.currentTarget.checked)} /> Enabled</label>
          </div>
        )}
        {(job.schedules || []).length > 1 && <p class="muted small">{job.schedules.length - 1} more schedule(s) in the JSON.</p>}
      </fieldset>
      <TextField id="job-parents" label="Runs after (parent jobs)" value={parents} onChange={setParents} errs={errorsUnder(errors, '/dependencies')} onBlur={() => setParentsDraft(null)}
        help="Job ids, comma separated: it runs once all of them have succeeded since its last run. A job with parents has no schedule." />
    </div>
  );
}
