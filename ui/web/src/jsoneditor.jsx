// A JSON editor: CodeMirror 6, loaded on first use (its own chunk), with
// JSON.parse's error and the server's errors (by path) marked on their
// lines. Until it has loaded (or if it cannot), a plain textarea.
import { useEffect, useRef, useState } from 'preact/hooks';
import { locate } from './jsonpos.js';

/** Diagnostics for the server's errors (`[{path, message}]`) on the lines their paths name. */
function placed(text, errors) {
  return (errors || []).map((e) => {
    const from = Math.min(locate(text, e.path), text.length);
    const nl = text.indexOf('\n', from);
    return { from, to: nl < 0 ? text.length : nl, severity: 'error', message: `${e.path || '/'}: ${e.message}`, source: 'server' };
  });
}

export function JsonEditor({ id, label, value, onInput, errors, describedBy }) {
  const host = useRef(null);
  const editor = useRef(null);
  const [state, setState] = useState('loading');
  const latest = useRef({});
  latest.current = { onInput, errors };
  useEffect(() => {
    let gone = false;
    import('./codemirror.js').then(
      ({ createEditor }) => {
        if (gone) return;
        editor.current = createEditor(host.current, {
          doc: value,
          label,
          describedBy,
          onChange: (t) => latest.current.onInput(t),
          extra: (t) => placed(t, latest.current.errors),
        });
        setState('ready');
      },
      () => !gone && setState('failed'),
    );
    return () => {
      gone = true;
      editor.current?.destroy();
      editor.current = null;
    };
  }, []);
  // While it is shown the editor owns the text: `value` changes only by
  // its own edits, which arrive here a render late (setting them back
  // would drop what was typed since). A new editor starts from `value`.
  useEffect(() => editor.current?.relint(), [errors]);
  if (state === 'failed') {
    return (
      <textarea id={id} class="json-fallback" aria-label={label} aria-describedby={describedBy} spellcheck={false} rows={18}
        value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    );
  }
  return (
    <div class="code" id={id} data-editor={state}>
      {state === 'loading' && <p class="muted">Loading the editor…</p>}
      <div ref={host} />
    </div>
  );
}
