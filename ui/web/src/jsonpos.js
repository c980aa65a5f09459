// Where a path of a JSON document is in its text: to put an error that
// names a field (Marathon's `/healthChecks(0)/path`, `/constraints(1)`,
// Metronome's `/run/cpus`, `/schedules/0/cron`) on the line that holds it.

/** `/a(0)/b` or `/a/0/b` → ['a', '0', 'b']. */
export function splitPath(path) {
  return String(path || '')
    .split('/')
    .filter(Boolean)
    .flatMap((seg) => {
      const s = seg.replace(/~1/g, '/').replace(/~0/g, '~');
      const m = /^(.*?)\((\d+)\)$/.exec(s);
      return m ? (m[1] ? [m[1], m[2]] : [m[2]]) : [s];
    });
}

/** Offset in `text` of every value (of its key, in an object), by path segments joined with NUL. */
function positions(text) {
  const out = new Map();
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const str = () => {
    const s = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(s, i));
  };
  const value = (path, at) => {
    ws();
    out.set(path.join('\0'), at ?? i);
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) { i++; return; }
      for (let n = 0; i < text.length; n++) {
        ws();
        if (c === '{') {
          const keyAt = i;
          const k = str();
          ws();
          i++; // :
          value([...path, k], keyAt);
        } else value([...path, String(n)]);
        ws();
        if (text[i++] !== ',') return;
      }
    } else if (c === '"') str();
    else while (i < text.length && !/[\s,\]}]/.test(text[i])) i++;
  };
  try {
    value([]);
  } catch {
    /* a broken text: what was found so far */
  }
  return out;
}

/** The offset of `path` in `text`, or of the nearest enclosing value that exists (0 if none). */
export function locate(text, path) {
  const pos = positions(text);
  const segs = splitPath(path);
  for (let n = segs.length; n >= 0; n--) {
    const at = pos.get(segs.slice(0, n).join('\0'));
    if (at !== undefined) return at;
  }
  return 0;
}

/** 1-based line number of an offset. */
export const lineOf = (text, offset) => text.slice(0, offset).split('\n').length;
