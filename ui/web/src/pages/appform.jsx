// An app's definition as a form and as JSON (Create, and Edit on an app's
// page). The form has the common fields; everything else of the
// definition stays in the JSON. Marathon's 422 errors are shown at the
// field (form) or line (JSON) their paths name.
import { useState } from 'preact/hooks';
import { useDoc, withKey, serverErrors, errorsAt, DualEditor, TextField, NumField, SelectField, Rows, MapRows } from '../formparts.jsx';
import { ErrorBox } from '../ui.jsx';

const KNOWN = ['id', 'cmd', 'cpus', 'mem', 'disk', 'instances', 'env', 'portDefinitions', 'healthChecks', 'constraints', 'labels', 'container'];
const OPERATORS = ['UNIQUE', 'CLUSTER', 'GROUP_BY', 'LIKE', 'UNLIKE', 'MAX_PER', 'IS'].map((o) => [o, o]);

const check = (app) => (!app.id ? 'The app needs an id, such as /hello.' : null);

/**
 * `submit(app, force)` sends it (and throws the API's error); `onDone`
 * gets its answer. `label`: the submit button's words.
 */
export function AppEditor({ initial, submit, onDone, onCancel, label, busyLabel, idLocked }) {
  const [doc, fromForm, fromText] = useDoc(initial, check);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const errors = serverErrors(error);
  const send = async (force) => {
    setBusy(true);
    setError(null);
    try {
      onDone(await submit(doc.obj, force));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const onSubmit = (e) => {
    e.preventDefault();
    if (doc.problem) {
      document.getElementById('app-id')?.focus();
      return;
    }
    send(false);
  };
  return (
    <form class="appform" onSubmit={onSubmit} noValidate>
      <DualEditor name="app" doc={doc} fromText={fromText} errors={errors} known={KNOWN}
        form={<AppFields app={doc.obj} set={fromForm} errors={errors} idLocked={idLocked} />} />
      {doc.problem && !doc.broken && <p class="error" id="app-problem">{doc.problem}</p>}
      <ErrorBox error={error} what="Marathon refused it" />
      <div class="actions">
        <button type="submit" class="primary" disabled={!!doc.problem || busy}>{busy ? busyLabel : label}</button>
        {error && error.status === 409 && (
          <button type="button" class="danger" onClick={() => send(true)}>Override the deployment and do it anyway</button>
        )}
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
      </div>
    </form>
  );
}

function AppFields({ app, set, errors, idLocked }) {
  const put = (k) => (v) => set(withKey(app, k, v));
  const hc = (app.healthChecks || [])[0];
  const setHc = (next) => set(withKey(app, 'healthChecks', next ? [next, ...(app.healthChecks || []).slice(1)] : (app.healthChecks || []).slice(1)));
  const image = app.container && app.container.docker ? app.container.docker.image : '';
  const setImage = (img) => {
    const c = { ...(app.container || {}) };
    const d = { ...(c.docker || {}) };
    if (img) d.image = img;
    else delete d.image;
    if (Object.keys(d).length) c.docker = d;
    else delete c.docker;
    if (img && !c.type) c.type = 'MESOS';
    set(withKey(app, 'container', Object.keys(c).filter((k) => k !== 'type').length ? c : undefined));
  };
  return (
    <div class="fields">
      <div class="grid">
        <TextField id="app-id" label="ID" value={app.id} onChange={put('id')} errs={errorsAt(errors, 'id')} readOnly={idLocked}
          help={idLocked ? 'The id of an app cannot change.' : 'A path such as /hello or /web/api.'} required />
        <TextField id="app-cmd" label="Command" value={app.cmd} onChange={put('cmd')} errs={errorsAt(errors, 'cmd')}
          help="Run by /bin/sh in the task's sandbox." class="wide" />
      </div>
      <div class="grid four">
        <NumField id="app-cpus" label="CPUs" value={app.cpus} onChange={put('cpus')} errs={errorsAt(errors, 'cpus')} min="0" />
        <NumField id="app-mem" label="Memory (MiB)" value={app.mem} onChange={put('mem')} errs={errorsAt(errors, 'mem')} min="0" />
        <NumField id="app-disk" label="Disk (MiB)" value={app.disk} onChange={put('disk')} errs={errorsAt(errors, 'disk')} min="0" />
        <NumField id="app-instances" label="Instances" value={app.instances} onChange={put('instances')} errs={errorsAt(errors, 'instances')} min="0" step="1" />
      </div>
      <TextField id="app-image" label="Container image (optional)" value={image} onChange={setImage} errs={errorsAt(errors, 'container')}
        help="A Docker image, run by the Mesos containerizer; empty: the command runs on the host." />
      <MapRows id="app-env" legend="Environment variables" value={app.env} onChange={put('env')} addLabel="Add a variable" errs={errorsAt(errors, 'env')} />
      <Rows id="app-ports" legend="Ports" value={app.portDefinitions} onChange={put('portDefinitions')} addLabel="Add a port"
        errs={errorsAt(errors, 'portDefinitions')} help="Port 0: the agent picks one from its ranges."
        blank={{ port: '0', name: '', protocol: 'tcp' }}
        cols={[{ k: 'port', label: 'Port', type: 'number' }, { k: 'name', label: 'Name' }, { k: 'protocol', label: 'Protocol', options: [['tcp', 'tcp'], ['udp', 'udp'], ['udp,tcp', 'udp,tcp']] }]}
        toRows={(v) => (v || []).map((p) => ({ ...p, port: String(p.port ?? 0), name: p.name || '', protocol: p.protocol || 'tcp' }))}
        fromRows={(rows) => rows.map(({ port, name, ...rest }) => ({ ...rest, port: Number(port) || 0, ...(name ? { name } : {}) }))} />
      <HealthCheck hc={hc} onChange={setHc} errs={errorsAt(errors, 'healthChecks')} />
      <Rows id="app-constraints" legend="Constraints" value={app.constraints} onChange={put('constraints')} addLabel="Add a constraint"
        errs={errorsAt(errors, 'constraints')} help="Where tasks may run: a node attribute or hostname, an operator, a value."
        blank={{ field: 'hostname', operator: 'UNIQUE', value: '' }}
        cols={[{ k: 'field', label: 'Field' }, { k: 'operator', label: 'Operator', options: OPERATORS }, { k: 'value', label: 'Value' }]}
        toRows={(v) => (v || []).map(([field, operator, value]) => ({ field: field || '', operator: operator || 'UNIQUE', value: value ?? '' }))}
        fromRows={(rows) => rows.filter((r) => r.field.trim()).map((r) => (r.value === '' ? [r.field.trim(), r.operator] : [r.field.trim(), r.operator, r.value]))} />
      <MapRows id="app-labels" legend="Labels" value={app.labels} onChange={put('labels')} addLabel="Add a label" errs={errorsAt(errors, 'labels')} />
    </div>
  );
}

function HealthCheck({ hc, onChange, errs }) {
  const protocol = hc ? (hc.protocol === 'MESOS_HTTP' ? 'HTTP' : hc.protocol === 'MESOS_TCP' ? 'TCP' : hc.protocol || 'HTTP') : '';
  const put = (k) => (v) => onChange(withKey(hc, k, v));
  const setProtocol = (p) => {
    if (!p) return onChange(null);
    const base = { gracePeriodSeconds: 300, intervalSeconds: 60, timeoutSeconds: 20, maxConsecutiveFailures: 3, ...(hc || {}), protocol: p };
    if (p === 'COMMAND') {
      delete base.path;
      delete base.portIndex;
      base.command = base.command || { value: 'true' };
    } else {
      delete base.command;
      if (base.portIndex === undefined && base.port === undefined) base.portIndex = 0;
      if (p === 'HTTP' && !base.path) base.path = '/';
      if (p === 'TCP') delete base.path;
    }
    return onChange(base);
  };
  return (
    <fieldset class="rows" id="app-hc">
      <legend>Health check</legend>
      <div class="grid four">
        <SelectField id="app-hc-protocol" label="Protocol" value={protocol} onChange={setProtocol} errs={errs}
          options={[['', 'None'], ['HTTP', 'HTTP'], ['TCP', 'TCP'], ['COMMAND', 'Command']]} />
        {hc && protocol === 'HTTP' && <TextField id="app-hc-path" label="Path" value={hc.path} onChange={put('path')} />}
        {hc && protocol !== 'COMMAND' && <NumField id="app-hc-port" label="Port index" value={hc.portIndex} onChange={put('portIndex')} min="0" step="1" />}
        {hc && protocol === 'COMMAND' && (
          <TextField id="app-hc-command" label="Command" value={(hc.command || {}).value} onChange={(v) => onChange({ ...hc, command: { value: v } })} />
        )}
        {hc && <NumField id="app-hc-interval" label="Interval (s)" value={hc.intervalSeconds} onChange={put('intervalSeconds')} min="1" />}
        {hc && <NumField id="app-hc-grace" label="Grace period (s)" value={hc.gracePeriodSeconds} onChange={put('gracePeriodSeconds')} min="0" />}
      </div>
    </fieldset>
  );
}
