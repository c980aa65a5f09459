// The jobs' dependency graph: Chronos v1's jobs with their `parents`
// (`/service/chronos/v1/scheduler/jobs`), drawn as SVG in layers by depth
// (a job without parents is at depth 0, a child one right of its deepest
// parent), parent → child arrows. The edges are also listed as text.
import { useApi } from '../hooks.js';
import { ErrorBox, Loading } from '../ui.jsx';
import { jobHref } from './jobs.jsx';

const W = 170;
const H = 34;
const GX = 70;
const GY = 16;

/** `{name → {depth, row}}` and the edges `[parent, child]`. */
export function layout(jobs) {
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const depth = new Map();
  const depthOf = (name, seen = new Set()) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0; // a cycle (Chronos refuses them): stop
    seen.add(name);
    const ps = ((byName.get(name) || {}).parents || []).filter((p) => byName.has(p));
    const d = ps.length ? 1 + Math.max(...ps.map((p) => depthOf(p, seen))) : 0;
    depth.set(name, d);
    return d;
  };
  const names = [...byName.keys()].sort();
  names.forEach((n) => depthOf(n));
  const rows = [];
  const at = new Map();
  for (const n of names) {
    const d = depth.get(n);
    rows[d] = (rows[d] || 0) + 1;
    at.set(n, { depth: d, row: rows[d] - 1 });
  }
  const edges = jobs.flatMap((j) => (j.parents || []).filter((p) => byName.has(p)).map((p) => [p, j.name]));
  return { at, edges, columns: rows.length, height: Math.max(0, ...rows) };
}

export function JobGraph() {
  const { data, error } = useApi('/service/chronos/v1/scheduler/jobs', { every: 10000 });
  if (!data) return error ? <ErrorBox error={error} what="Cannot read the dependencies from Chronos" /> : <Loading what="the dependencies" />;
  const { at, edges, columns, height } = layout(data);
  if (edges.length === 0) return <p class="empty" data-testid="graph">No job depends on another. A job with parents (<em>Runs after</em>) runs once they have all succeeded.</p>;
  const x = (n) => at.get(n).depth * (W + GX);
  const y = (n) => at.get(n).row * (H + GY);
  const width = columns * (W + GX) - GX + 2;
  const tall = height * (H + GY) - GY + 2;
  const status = new Map(data.map((j) => [j.name, j.lastError && (!j.lastSuccess || j.lastError > j.lastSuccess) ? 'failure' : '']));
  return (
    <div data-testid="graph">
      <div class="graph">
        <svg width={width} height={tall} viewBox={`-1 -1 ${width} ${tall}`} role="img"
          aria-label={`Dependency graph: ${edges.map(([p, c]) => `${p} then ${c}`).join(', ')}`}>
          <defs>
            <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" fill="#4b5563" />
            </marker>
          </defs>
          {edges.map(([p, c]) => {
            const x1 = x(p) + W;
            const y1 = y(p) + H / 2;
            const x2 = x(c) - 2;
            const y2 = y(c) + H / 2;
            const mid = (x1 + x2) / 2;
            return <path class="edge" data-edge={`${p}->${c}`} d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`} marker-end="url(#arrow)" />;
          })}
          {[...at.keys()].map((n) => (
            <g class={`node ${status.get(n) || ''}`} data-node={n} transform={`translate(${x(n)} ${y(n)})`}>
              <rect width={W} height={H} rx="6" />
              <text x="10" y={H / 2 + 4}>{n.length > 22 ? `${n.slice(0, 21)}…` : n}</text>
              <title>{n}</title>
            </g>
          ))}
        </svg>
      </div>
      <ul class="edges small">
        {edges.map(([p, c]) => <li><a href={jobHref(p)}>{p}</a> → <a href={jobHref(c)}>{c}</a></li>)}
      </ul>
    </div>
  );
}
