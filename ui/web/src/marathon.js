// What the dashboard derives from Marathon's JSON: an app's status (as
// DC/OS' UI named them), the group tree, and why an app waits.

/** Running, Deploying, Waiting, Delayed, Unhealthy, Suspended. */
export function appStatus(app, queued) {
  const running = app.tasksRunning || 0;
  const wanted = app.instances || 0;
  if (queued && queued.delay && queued.delay.timeLeftSeconds > 0) return 'Delayed';
  if ((app.deployments || []).length > 0) {
    if (queued && waitingReasons(queued).length > 0) return 'Waiting';
    return 'Deploying';
  }
  if (wanted === 0 && running === 0) return 'Suspended';
  if ((app.tasksUnhealthy || 0) > 0) return 'Unhealthy';
  if (running < wanted) return 'Waiting';
  return 'Running';
}

/** The queue entry's facts in words: offers declined, and why. */
export function waitingReasons(q) {
  const out = [];
  const summary = q.processedOffersSummary || {};
  for (const r of summary.rejectSummaryLastOffers || []) {
    if (r.declined > 0) out.push({ reason: r.reason, declined: r.declined, processed: r.processed });
  }
  return out;
}

const REASONS = {
  UnfulfilledConstraint: 'no agent satisfies the app’s constraints',
  InsufficientCpus: 'no agent has enough free CPU',
  InsufficientMemory: 'no agent has enough free memory',
  InsufficientDisk: 'no agent has enough free disk',
  InsufficientGpus: 'no agent has enough free GPUs',
  InsufficientPorts: 'no agent has the ports the app asks for',
  UnfulfilledRole: 'no offer comes from the app’s role',
  DeclinedScarceResources: 'offers carry scarce resources (GPUs) the app does not use',
  NoCorrespondingReservationFound: 'no reservation for the app’s volumes',
  AgentMaintenance: 'the agents are in maintenance',
};
/** A reason in words: Marathon's names, or ours ("insufficient mem", "constraint … not satisfied"). */
export function reasonText(r) {
  if (REASONS[r]) return REASONS[r];
  let m = /^constraint (.*) not satisfied$/.exec(r);
  if (m) return `no agent satisfies the constraint ${m[1]}`;
  m = /^insufficient (\w+)$/.exec(r);
  if (m) return `no agent has enough free ${{ cpus: 'CPU', mem: 'memory', gpus: 'GPUs' }[m[1]] || m[1]}`;
  if (r === 'ports not available') return 'no agent has the ports the app asks for';
  return r;
}

/** A pod's PodStatus (/v2/pods/::status) as an app-like row. */
export function podRow(p) {
  const spec = p.spec || {};
  const sum = (k) => (spec.containers || []).reduce((n, c) => n + ((c.resources || {})[k] || 0), 0);
  const instances = (spec.scaling || {}).instances ?? 1;
  const running = (p.instances || []).filter((i) => i.status === 'STABLE').length;
  const status = p.status === 'STABLE' ? (instances === 0 ? 'Suspended' : 'Running') : p.status === 'DEGRADED' ? 'Deploying' : 'Waiting';
  return { id: p.id, pod: true, status, instances, tasksRunning: running, cpus: sum('cpus'), mem: sum('mem'), version: spec.version };
}

/** Apps (and pods) by group: {id, apps:[...], groups: Map}, from the flat list. */
export function groupTree(apps) {
  const root = { id: '/', apps: [], groups: new Map() };
  for (const app of apps) {
    const parts = app.id.split('/').filter(Boolean);
    let node = root;
    let path = '';
    for (const p of parts.slice(0, -1)) {
      path += `/${p}`;
      if (!node.groups.has(path)) node.groups.set(path, { id: path, apps: [], groups: new Map() });
      node = node.groups.get(path);
    }
    node.apps.push(app);
  }
  return root;
}

export const baseName = (id) => id.split('/').filter(Boolean).pop() || '/';
