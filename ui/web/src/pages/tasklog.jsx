// A task's stdout or stderr, followed live: the gateway's log stream
// (`/system/v1/logs/v2/task/<id>/file/<file>` as SSE: the last lines,
// then each new line as the task writes it); below, its sandbox.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { Sandbox } from './sandbox.jsx';

const KEEP = 5000;

export function TaskLog() {
  const route = useRoute();
  const { id } = route.params;
  const agentHint = (route.query || {}).agent;
  const [file, setFile] = useState('stdout');
  const [follow, setFollow] = useState(true);
  const [lines, setLines] = useState([]);
  const [state, setState] = useState('connecting');
  const pre = useRef(null);
  useEffect(() => {
    setLines([]);
    setState('connecting');
    const src = new EventSource(`/system/v1/logs/v2/task/${encodeURIComponent(id)}/file/${file}?skip=-500`);
    let buf = [];
    let timer = null;
    const flush = () => {
      timer = null;
      const add = buf;
      buf = [];
      setLines((old) => old.concat(add).slice(-KEEP));
    };
    src.onopen = () => setState('following');
    src.onmessage = (e) => {
      buf.push(e.data);
      if (!timer) timer = setTimeout(flush, 100);
    };
    src.onerror = () => setState(src.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    return () => {
      src.close();
      if (timer) clearTimeout(timer);
    };
  }, [id, file]);
  useEffect(() => {
    if (follow && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [lines, follow]);
  return (
    <section class="tasklog">
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/services">Services</a> / task {id}</nav>
      <h1>Log of {id}</h1>
      <div class="titlebar">
        <div role="group" aria-label="Which file" class="toggle">
          {['stdout', 'stderr'].map((f) => (
            <button type="button" aria-pressed={file === f} onClick={() => setFile(f)}>{f}</button>
          ))}
        </div>
        <label class="check"><input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Scroll with new lines</label>
        <span class="muted" aria-live="polite">{state === 'following' ? 'following live' : state === 'reconnecting' ? 'connection lost, trying again' : state}</span>
      </div>
      <pre ref={pre} class="log" tabIndex={0} aria-label={`${file} of the task`} data-testid="log">
        {lines.length ? lines.join('\n') : state === 'following' ? `(${file} is empty so far)` : ''}
      </pre>
      <h2>Sandbox</h2>
      <Sandbox task={id} agentHint={agentHint} />
    </section>
  );
}
