// Pieces of the app and job forms: a definition kept as JSON text and as
// an object (the form edits the object, the JSON tab the text; a text
// that parses becomes the object; fields the form does not know stay),
// the Form/JSON tabs, inputs with their errors, rows of key/value pairs.
import { useEffect, useState } from 'preact/hooks';
import { splitPath, locate, lineOf } from './jsonpos.js';
import { JsonEditor } from './jsoneditor.jsx';

/** `[doc, fromForm(obj), fromText(text)]`; doc is `{text, obj, problem}`. */
export function useDoc(initial, check) {
  const [doc, setDoc] = useState(() => ({ text: JSON.stringify(initial, null, 2), obj: initial, problem: check(initial) }));
  const fromForm = (obj) => setDoc({ text: JSON.stringify(obj, null, 2), obj, problem: check(obj) });
  const fromText = (text) => {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      setDoc((d) => ({ ...d, text, problem: `Not valid JSON yet: ${e.message}`, broken: true }));
      return;
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
      setDoc((d) => ({ ...d, text, problem: 'The definition must be a JSON object.', broken: true }));
      return;
    }
    setDoc({ text, obj: parsed, problem: check(parsed) });
  };
  return [doc, fromForm, fromText];
}

/** `obj` with `key` set to `v`, or without it when `v` is undefined or ''. */
export function withKey(obj, key, v) {
  const next = { ...obj };
  if (v === undefined || v === '') delete next[key];
  else next[key] = v;
  return next;
}

/**
 * A server's validation errors as `[{path, message}]`: Marathon's and
 * Metronome's 422 `details[]` (`path`, `errors`), else its `message`.
 */
export function serverErrors(error) {
  if (!error) return [];
  const b = error.body;
  if (b && Array.isArray(b.details) && b.details.length) {
    return b.details.flatMap((d) => (d.errors || [b.message || 'invalid']).map((m) => ({ path: d.path || '/', message: m })));
  }
  if (b && Array.isArray(b.errors)) return b.errors.map((m) => ({ path: '/', message: typeof m === 'string' ? m : JSON.stringify(m) }));
  return [];
}

/** The messages of the errors under the top-level field `key`. */
export const errorsAt = (errors, ...keys) =>
  (errors || []).filter((e) => keys.includes(splitPath(e.path)[0])).map((e) => `${e.path}: ${e.message}`);

/** The messages of the errors at or under `path` (`/run/cpus`). */
export function errorsUnder(errors, path) {
  const want = splitPath(path);
  return (errors || []).filter((e) => {
    const segs = splitPath(e.path);
    return want.every((w, i) => segs[i] === w);
  }).map((e) => `${e.path}: ${e.message}`);
}

/** The Form and JSON tabs of a definition; `form` is shown on the first. */
export function DualEditor({ name, doc, fromText, errors, form, known }) {
  const [tab, setTab] = useState('form');
  const tabs = [['form', 'Form'], ['json', 'JSON']];
  const onKey = (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = tab === 'form' ? 'json' : 'form';
      setTab(next);
      document.getElementById(`${name}-tab-${next}`)?.focus();
    }
  };
  // Errors the form has no field for are listed above it.
  const inForm = typeof known === 'function' ? known : (path) => known.includes(splitPath(path)[0]);
  const unplaced = tab === 'form' ? (errors || []).filter((e) => !inForm(e.path)) : [];
  return (
    <div class="dual">
      <div role="tablist" aria-label="Edit as" class="tabs" onKeyDown={onKey}>
        {tabs.map(([k, label]) => (
          <button type="button" role="tab" id={`${name}-tab-${k}`} aria-selected={tab === k ? 'true' : 'false'}
            aria-controls={`${name}-panel-${k}`} tabIndex={tab === k ? 0 : -1} onClick={() => setTab(k)}>{label}</button>
        ))}
      </div>
      {tab === 'form' ? (
        <div role="tabpanel" id={`${name}-panel-form`} aria-labelledby={`${name}-tab-form`}>
          {doc.broken && <p class="error" role="alert">The JSON has an error; the form shows it as it last was valid, and a change here replaces the JSON.</p>}
          {unplaced.length > 0 && <ul class="error" role="alert">{unplaced.map((e) => <li>{e.path}: {e.message}</li>)}</ul>}
          {form}
        </div>
      ) : (
        <div role="tabpanel" id={`${name}-panel-json`} aria-labelledby={`${name}-tab-json`}>
          <JsonEditor id={`${name}-json`} label={`The ${name} as JSON`} value={doc.text} onInput={fromText} errors={errors}
            describedBy={`${name}-json-problem`} />
          <p id={`${name}-json-problem`} class={doc.problem ? 'error' : 'muted'} aria-live="polite">
            {doc.problem || 'Valid JSON. Fields the form does not show are kept.'}
          </p>
          {(errors || []).length > 0 && (
            <ul class="error" role="alert" data-testid={`${name}-json-errors`}>
              {errors.map((e) => <li>line {lineOf(doc.text, locate(doc.text, e.path))}: {e.path}: {e.message}</li>)}
            </ul>
          )}
        </div>
      )}
    </div>
  );
}

/** Help and errors under an input, tied to it. */
function Notes({ id, help, errs }) {
  return (
    <>
      {help && <span id={`${id}-help`} class="help">{help}</span>}
      {errs && errs.length > 0 && <span id={`${id}-err`} class="field-error">{errs.join('; ')}</span>}
    </>
  );
}
const described = (id, help, errs) => [help && `${id}-help`, errs && errs.length && `${id}-err`].filter(Boolean).join(' ') || undefined;

export function TextField({ id, label, value, onChange, help, errs, ...rest }) {
  const bad = errs && errs.length > 0;
  return (
    <label class="field" for={id}>
      <span>{label}</span>
      <input id={id} name={id} value={value ?? ''} onInput={(e) => onChange(e.currentTarget.value)}
        aria-invalid={bad ? 'true' : undefined} aria-describedby={described(id, help, errs)} {...rest} />
      <Notes id={id} help={help} errs={errs} />
    </label>
  );
}

/** A number input: keeps what is typed ("0.", "") until it is a number or the field is left. */
export function NumField({ id, label, value, onChange, help, errs, ...rest }) {
  const [draft, setDraft] = useState(null);
  const bad = errs && errs.length > 0;
  return (
    <label class="field" for={id}>
      <span>{label}</span>
      <input id={id} name={id} type="number" step="any" value={draft ?? (value ?? '')}
        onInput={(e) => {
          const t = e.currentTarget.value;
          setDraft(t);
          if (t.trim() === '') onChange(undefined);
          else if (Number.isFinite(Number(t))) onChange(Number(t));
        }}
        onBlur={() => setDraft(null)}
        aria-invalid={bad ? 'true' : undefined} aria-describedby={described(id, help, errs)} {...rest} />
      <Notes id={id} help={help} errs={errs} />
    </label>
  );
}

export function SelectField({ id, label, value, onChange, options, help, errs }) {
  return (
    <label class="field" for={id}>
      <span>{label}</span>
      <select id={id} name={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}
        aria-invalid={errs && errs.length ? 'true' : undefined} aria-describedby={described(id, help, errs)}>
        {options.map(([v, l]) => <option value={v}>{l}</option>)}
      </select>
      <Notes id={id} help={help} errs={errs} />
    </label>
  );
}

/**
 * Rows of inputs for a list or a map (env, labels, constraints, ports).
 * `toRows(value)` and `fromRows(rows)` convert; rows being typed (an empty
 * key) are kept here while the value leaves them out. A change of the
 * value from elsewhere (the JSON) resets the rows.
 */
export function Rows({ id, legend, value, onChange, toRows, fromRows, cols, blank, addLabel, errs, help }) {
  const [rows, setRows] = useState(() => toRows(value));
  const key = JSON.stringify(value ?? null);
  useEffect(() => {
    if (JSON.stringify(fromRows(rows) ?? null) !== key) setRows(toRows(value));
  }, [key]);
  const update = (next) => {
    setRows(next);
    onChange(fromRows(next));
  };
  const grid = `grid-template-columns: repeat(${cols.length}, minmax(0, 1fr)) 5.5rem`;
  const set = (i, k, v) => update(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));
  return (
    <fieldset class="rows" id={id} aria-describedby={described(id, help, errs)}>
      <legend>{legend}</legend>
      {rows.length > 0 && (
        <div class="row head" aria-hidden="true" style={grid}>{cols.map((c) => <span>{c.label}</span>)}<span /></div>
      )}
      {rows.map((r, i) => (
        <div class="row" style={grid}>
          {cols.map((c) => c.options ? (
            <select name={`${id}-${i}-${c.k}`} aria-label={`${c.label} ${i + 1}`} value={r[c.k]} onChange={(e) => set(i, c.k, e.currentTarget.value)}>
              {c.options.map(([v, l]) => <option value={v}>{l}</option>)}
            </select>
          ) : (
            <input name={`${id}-${i}-${c.k}`} aria-label={`${c.label} ${i + 1}`} value={r[c.k] ?? ''} type={c.type || 'text'}
              onInput={(e) => set(i, c.k, e.currentTarget.value)} />
          ))}
          <button type="button" aria-label={`Remove ${legend.toLowerCase()} row ${i + 1}`} onClick={() => update(rows.filter((_, j) => j !== i))}>Remove</button>
        </div>
      ))}
      <button type="button" onClick={() => setRows([...rows, { ...blank }])}>{addLabel}</button>
      <Notes id={id} help={help} errs={errs} />
    </fieldset>
  );
}

/** Rows of a string map (env, labels); values that are not strings (secrets) are kept as they are. */
export function MapRows({ value, onChange, ...rest }) {
  const other = Object.fromEntries(Object.entries(value || {}).filter(([, v]) => typeof v !== 'string'));
  return (
    <Rows {...rest} value={value} onChange={onChange} blank={{ key: '', value: '' }}
      cols={[{ k: 'key', label: 'Name' }, { k: 'value', label: 'Value' }]}
      toRows={(v) => Object.entries(v || {}).filter(([, x]) => typeof x === 'string').map(([key, val]) => ({ key, value: val }))}
      fromRows={(rows) => ({ ...other, ...Object.fromEntries(rows.filter((r) => r.key.trim()).map((r) => [r.key.trim(), r.value])) })} />
  );
}
