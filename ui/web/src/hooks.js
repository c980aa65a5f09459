// Data hooks shared by the pages.
import { useEffect, useState, useCallback, useRef } from 'preact/hooks';
import { api } from './api.js';
import { marathonTick, masterTick } from './live.js';

/**
 * GET `path` (or several paths) through the gateway. Reloads when `deps`
 * change, when an event stream moves (`live: 'marathon'` or `'master'`),
 * and every `every` ms if given. Keeps the last good data while reloading.
 */
export function useApi(path, opts = {}) {
  return useLoad(
    path && JSON.stringify(path),
    () => (Array.isArray(path) ? Promise.all(path.map((p) => api(p))) : api(path)),
    opts,
  );
}

/**
 * As `useApi`, for any request: `load()` is called again when `key` (a
 * string naming what it asks; falsy: nothing yet) or `deps` change, on
 * ticks and every `every` ms. An answer to an older key is dropped.
 */
export function useLoad(key, load, { live = null, every = 0, deps = [] } = {}) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const tick = live === 'marathon' ? marathonTick.value : live === 'master' ? masterTick.value : 0;
  const seq = useRef(0);
  const run = useCallback(async () => {
    if (!key) return;
    const mine = ++seq.current;
    try {
      const data = await load();
      if (mine === seq.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === seq.current) setState((s) => ({ data: s.data, error, loading: false }));
    }
  }, [key, ...deps]);
  useEffect(() => {
    run();
  }, [run, tick]);
  useEffect(() => {
    if (!every) return undefined;
    const t = setInterval(run, every);
    return () => clearInterval(t);
  }, [run, every]);
  return { ...state, reload: run };
}

/** Runs an action, remembering whether it is busy and what went wrong. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const run = async (what, fn) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      const r = await fn();
      setDone(what);
      return r;
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, done, run, setDone };
}
