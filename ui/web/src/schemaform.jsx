// A form generated from a JSON Schema (a package's `config.json`), for any
// package: objects are fieldsets; strings, numbers, integers, booleans
// and enums are inputs filled with the schema's defaults; descriptions are
// help text. `required`, `minimum`/`maximum` (and the exclusive ones),
// `multipleOf`, `minLength`/`maxLength`, `pattern` are checked as the
// user types. Anything else (arrays, objects without properties) is a
// JSON text field. Values are kept as typed, by JSON pointer
// (`/service/name`); `collect()` turns them into options: only what
// differs from the defaults, so Cosmos keeps applying the package's own
// defaults to the rest (and an upgrade to the new version's).

/** The input a schema gets: object, string, number, integer, boolean, enum, json. */
export function kindOf(s) {
  if (!s || typeof s !== 'object') return 'json';
  if (Array.isArray(s.enum) && s.enum.length) return 'enum';
  let t = s.type;
  if (Array.isArray(t)) t = t.find((x) => x !== 'null');
  if (!t && s.properties) t = 'object';
  if (t === 'object') return s.properties ? 'object' : 'json';
  return ['string', 'number', 'integer', 'boolean'].includes(t) ? t : 'json';
}

const child = (ptr, key) => `${ptr}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
/** An element id for a pointer (unique: every other character escaped). */
export const fieldId = (ptr) => `opt${ptr.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16)}`)}`;

/** A property's default: its own, else what its object's default says. */
const defaultOf = (sub, inherited, key) =>
  sub.default !== undefined ? sub.default : inherited && typeof inherited === 'object' ? inherited[key] : undefined;

/** Calls `visit(schema, pointer, default, required)` for every input of the form. */
function walk(s, ptr, inherited, visit) {
  const required = new Set(s.required || []);
  for (const [key, sub] of Object.entries(s.properties || {})) {
    const p = child(ptr, key);
    const def = defaultOf(sub, inherited, key);
    if (kindOf(sub) === 'object') walk(sub, p, def, visit);
    else visit(sub, p, def, required.has(key));
  }
}

function toText(kind, def) {
  if (kind === 'boolean') return def === true;
  if (def === undefined || def === null) return '';
  if (kind === 'enum') return JSON.stringify(def);
  if (kind === 'json') return JSON.stringify(def, null, 2);
  return String(def);
}

/** The form's first values: the schema's defaults, as the inputs show them. */
export function initialValues(schema) {
  const out = {};
  if (schema) walk(schema, '', undefined, (s, p, def) => { out[p] = toText(kindOf(s), def); });
  return out;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** What is wrong with a value, in words (null: nothing). */
function check(s, v, def) {
  if (typeof v === 'number') {
    const exMin = s.exclusiveMinimum === true ? s.minimum : typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : undefined;
    const exMax = s.exclusiveMaximum === true ? s.maximum : typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : undefined;
    if (exMin !== undefined && v <= exMin) return `Must be more than ${exMin}.`;
    if (exMin === undefined && typeof s.minimum === 'number' && v < s.minimum) return `Must be at least ${s.minimum}.`;
    if (exMax !== undefined && v >= exMax) return `Must be less than ${exMax}.`;
    if (exMax === undefined && typeof s.maximum === 'number' && v > s.maximum) return `Must be at most ${s.maximum}.`;
    if (typeof s.multipleOf === 'number' && s.multipleOf > 0 && Math.abs(v / s.multipleOf - Math.round(v / s.multipleOf)) > 1e-9) {
      return `Must be a multiple of ${s.multipleOf}.`;
    }
  }
  if (typeof v === 'string') {
    const n = [...v].length;
    if (typeof s.minLength === 'number' && n < s.minLength) return `Needs at least ${s.minLength} character${s.minLength === 1 ? '' : 's'}.`;
    if (typeof s.maxLength === 'number' && n > s.maxLength) return `Takes at most ${s.maxLength} characters (this has ${n}).`;
    if (typeof s.pattern === 'string') {
      let re = null;
      try {
        re = new RegExp(s.pattern, 'u');
      } catch {
        re = null; // a pattern this browser cannot read: Cosmos checks it
      }
      if (re && !re.test(v)) {
        const like = typeof def === 'string' && re.test(def) && def ? ` (like the default, “${def}”)` : '';
        return `Does not match the pattern ${s.pattern}${like}: change it to fit.`;
      }
    }
  }
  if (s.type === 'array' && v !== undefined && !Array.isArray(v)) return 'Must be a JSON array, such as ["a", "b"].';
  if (kindOf(s) === 'json' && s.type === 'object' && (v === null || typeof v !== 'object' || Array.isArray(v))) {
    return 'Must be a JSON object, such as {"key": "value"}.';
  }
  return null;
}

/** One input's value from its text: `{value}` (undefined: left out) or `{error}`. */
function parse(s, text, def, required) {
  const kind = kindOf(s);
  let value;
  if (kind === 'boolean') {
    value = text === true ? true : def === undefined ? undefined : false;
  } else if (kind === 'enum') {
    value = text === '' || text === undefined ? undefined : JSON.parse(text);
  } else if (kind === 'number' || kind === 'integer') {
    const t = String(text ?? '').trim();
    if (t !== '') {
      value = Number(t);
      if (!Number.isFinite(value)) return { error: 'Enter a number.' };
      if (kind === 'integer' && !Number.isInteger(value)) return { error: 'Enter a whole number.' };
    }
  } else if (kind === 'string') {
    value = text === '' && (def === undefined || def === null) ? undefined : String(text ?? '');
  } else {
    const t = String(text ?? '').trim();
    if (t !== '') {
      try {
        value = JSON.parse(t);
      } catch (e) {
        return { error: `This is not valid JSON yet (${e.message}).` };
      }
    }
  }
  if (value === undefined || (required && value === '')) {
    return required ? { error: 'Required: enter a value.' } : { value: undefined };
  }
  const error = check(s, value, def);
  return error ? { error } : { value };
}

/**
 * The options the values give, and what is wrong with them:
 * `{options, errors: {pointer: words}}`. Options hold only what differs
 * from the defaults.
 */
export function collect(schema, values) {
  const errors = {};
  const object = (s, ptr, inherited) => {
    const out = {};
    const required = new Set(s.required || []);
    for (const [key, sub] of Object.entries(s.properties || {})) {
      const p = child(ptr, key);
      const def = defaultOf(sub, inherited, key);
      if (kindOf(sub) === 'object') {
        const v = object(sub, p, def);
        if (v) out[key] = v;
        continue;
      }
      const { value, error } = parse(sub, values[p], def, required.has(key));
      if (error) errors[p] = error;
      else if (value !== undefined && !same(value, def)) out[key] = value;
    }
    return Object.keys(out).length ? out : undefined;
  };
  const options = (schema && object(schema, '', undefined)) || {};
  return { options, errors };
}

/** Every input's pointer, in the form's order (to focus the first wrong one). */
export function pointers(schema) {
  const out = [];
  if (schema) walk(schema, '', undefined, (s, p) => out.push(p));
  return out;
}

/**
 * The inputs of `schema`. `values` by pointer, `onInput(pointer, value)`,
 * `errors` by pointer (the ones to show now).
 */
export function SchemaForm({ schema, values, onInput, errors }) {
  return <Properties s={schema} ptr="" values={values} onInput={onInput} errors={errors} />;
}

function Properties({ s, ptr, inherited, values, onInput, errors }) {
  const required = new Set(s.required || []);
  return Object.entries(s.properties || {}).map(([key, sub]) => {
    const p = child(ptr, key);
    const def = defaultOf(sub, inherited, key);
    if (kindOf(sub) === 'object') {
      return (
        <fieldset class="schema-group" key={p}>
          <legend>{sub.title || key}</legend>
          {sub.description && <p class="help">{sub.description}</p>}
          <Properties s={sub} ptr={p} inherited={def} values={values} onInput={onInput} errors={errors} />
        </fieldset>
      );
    }
    return <Field key={p} s={sub} name={key} ptr={p} def={def} required={required.has(key)} value={values[p]} error={errors[p]} onInput={onInput} />;
  });
}

function Field({ s, name, ptr, def, required, value, error, onInput }) {
  const kind = kindOf(s);
  const id = fieldId(ptr);
  // The default, said when it is short.
  const shown = def === undefined || def === null || kind === 'boolean' ? '' : typeof def === 'string' ? def : JSON.stringify(def);
  const said = s.description ? s.description.trim().replace(/([^.!?])$/, '$1.') : '';
  const help = [said, shown && shown.length <= 60 ? `Default: ${shown}.` : ''].filter(Boolean).join(' ');
  const helpId = help ? `${id}-help` : null;
  const errorId = error ? `${id}-error` : null;
  const common = {
    id,
    name: ptr,
    'aria-describedby': [errorId, helpId].filter(Boolean).join(' ') || undefined,
    'aria-invalid': error ? 'true' : undefined,
    'aria-required': required ? 'true' : undefined,
  };
  const text = (e) => onInput(ptr, e.currentTarget.value);
  const label = s.title || name;
  const notes = (
    <>
      {error && <p id={errorId} class="field-error">{error}</p>}
      {helpId && <p id={helpId} class="help">{help}</p>}
    </>
  );
  if (kind === 'boolean') {
    return (
      <div class={`field${error ? ' invalid' : ''}`}>
        <label class="check">
          <input type="checkbox" {...common} checked={value === true} onChange={(e) => onInput(ptr, e.currentTarget.checked)} />
          {label}
        </label>
        {notes}
      </div>
    );
  }
  let input;
  if (kind === 'enum') {
    input = (
      <select {...common} value={value} onChange={text}>
        {(value === '' || !required) && <option value="">(not set)</option>}
        {s.enum.map((v) => <option value={JSON.stringify(v)}>{String(v)}</option>)}
      </select>
    );
  } else if (kind === 'number' || kind === 'integer') {
    input = (
      <input type="number" {...common} value={value} onInput={text} inputMode={kind === 'integer' ? 'numeric' : 'decimal'}
        step={kind === 'integer' ? 1 : 'any'} min={s.minimum} max={s.maximum} />
    );
  } else if (kind === 'string') {
    input = <input type={s.format === 'password' ? 'password' : 'text'} {...common} value={value} onInput={text} autocomplete="off" spellcheck={false} />;
  } else {
    input = <textarea {...common} class="mono" rows={4} spellcheck={false} value={value} onInput={text} />;
  }
  return (
    <div class={`field${error ? ' invalid' : ''}`}>
      <label for={id}>
        {label}
        {required && <span class="muted small"> (required)</span>}
        {kind === 'json' && <span class="muted small"> (JSON)</span>}
      </label>
      {input}
      {notes}
    </div>
  );
}
