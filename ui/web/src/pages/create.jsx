// Create an app: the form for the common fields, or its Marathon JSON in
// a code editor (the two in sync); Marathon's validation errors are shown
// at the field or line their paths name.
import { useLocation } from 'preact-iso';
import { api, appHref } from '../api.js';
import { AppEditor } from './appform.jsx';

const TEMPLATE = {
  id: '/hello',
  cmd: 'while true; do echo hello from $HOSTNAME; sleep 5; done',
  cpus: 0.1,
  mem: 32,
  instances: 1,
};

export function CreateApp() {
  const { route } = useLocation();
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/services">Services</a> / New app</nav>
      <h1>Create an app</h1>
      <AppEditor initial={TEMPLATE} label="Create" busyLabel="Creating…"
        submit={(app) => api('/marathon/v2/apps', { method: 'POST', body: app })}
        onDone={(created) => route(appHref(created.id))} />
    </section>
  );
}
