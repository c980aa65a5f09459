// Create an app from its Marathon JSON. The text is checked as JSON while
// typing; Marathon's own validation errors are shown with their paths.
import { useState } from 'preact/hooks';
import { useLocation } from 'preact-iso';
import { api, appHref } from '../api.js';
import { useAction } from '../hooks.js';
import { ErrorBox } from '../ui.jsx';

const TEMPLATE = `{
  "id": "/hello",
  "cmd": "while true; do echo hello from $HOSTNAME; sleep 5; done",
  "cpus": 0.1,
  "mem": 32,
  "instances": 1
}`;

export function CreateApp() {
  const [text, setText] = useState(TEMPLATE);
  const action = useAction();
  const { route } = useLocation();
  let parsed = null;
  let problem = null;
  try {
    parsed = JSON.parse(text);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) problem = 'The app must be a JSON object.';
    else if (!parsed.id) problem = 'The app needs an "id", such as "/hello".';
  } catch (e) {
    problem = `Not valid JSON yet: ${e.message}`;
  }
  const submit = async (e) => {
    e.preventDefault();
    if (problem) return;
    const created = await action.run('Created', () => api('/marathon/v2/apps', { method: 'POST', body: parsed }));
    if (created) route(appHref(created.id || (parsed.id.startsWith('/') ? parsed.id : `/${parsed.id}`)));
  };
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/services">Services</a> / New app</nav>
      <h1>Create an app</h1>
      <form onSubmit={submit} class="editor">
        <label for="app-json">Marathon app definition (JSON)</label>
        <textarea id="app-json" name="app-json" spellcheck={false} rows={16} value={text}
          aria-invalid={problem ? 'true' : 'false'} aria-describedby="app-json-problem"
          onInput={(e) => setText(e.currentTarget.value)} />
        <p id="app-json-problem" class={problem ? 'error' : 'muted'} aria-live="polite">
          {problem || 'Valid JSON. Marathon checks the rest when you create it.'}
        </p>
        <ErrorBox error={action.error} what="Marathon refused the app" />
        <button type="submit" class="primary" disabled={!!problem || action.busy}>
          {action.busy ? 'Creating…' : 'Create'}
        </button>
      </form>
    </section>
  );
}
