// Services: Marathon's apps as a tree of groups, with status, instances
// (running / healthy / target), resources and version. Reloads when the
// event stream moves.
import { useApi } from '../hooks.js';
import { appHref } from '../api.js';
import { appStatus, groupTree, baseName, podRow } from '../marathon.js';
import { ErrorBox, Loading, Status, fmtMem, fmtNum, fmtAgo } from '../ui.jsx';

export function Services() {
  const { data, error } = useApi(
    ['/marathon/v2/apps?embed=apps.counts&embed=apps.deployments', '/marathon/v2/queue', '/marathon/v2/pods/::status'],
    { live: 'marathon' },
  );
  if (!data) return error ? <ErrorBox error={error} what="Cannot list the services" /> : <Loading what="services" />;
  const [{ apps }, { queue }, pods] = data;
  const queued = new Map(queue.map((q) => [(q.app || q.pod || {}).id, q]));
  const tree = groupTree([...apps, ...(pods || []).map(podRow)]);
  return (
    <section>
      <div class="titlebar">
        <h1>Services</h1>
        <a class="button primary" href="/services/new">Create an app</a>
      </div>
      <ErrorBox error={error} what="Not up to date" />
      {apps.length === 0 && (pods || []).length === 0 ? (
        <p class="empty">No services yet. <a href="/services/new">Create an app</a> or run <code>dcos marathon app add app.json</code>.</p>
      ) : (
        <div class="scroll">
          <table class="services">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col" title="running / healthy / target">Instances</th>
                <th scope="col" class="wide">CPU</th>
                <th scope="col" class="wide">Memory</th>
                <th scope="col" class="wide">Version</th>
              </tr>
            </thead>
            <tbody>
              <GroupRows node={tree} depth={0} queued={queued} />
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function GroupRows({ node, depth, queued }) {
  const groups = [...node.groups.values()].sort((a, b) => a.id.localeCompare(b.id));
  const apps = [...node.apps].sort((a, b) => a.id.localeCompare(b.id));
  return (
    <>
      {groups.map((g) => {
        const all = allApps(g);
        const running = all.reduce((n, a) => n + (a.tasksRunning || 0), 0);
        const target = all.reduce((n, a) => n + (a.instances || 0), 0);
        return (
          <>
            <tr class="group">
              <th scope="row" style={{ paddingLeft: `${0.5 + depth * 1.25}rem` }}>▾ {baseName(g.id)}/</th>
              <td>{all.length} app{all.length === 1 ? '' : 's'}</td>
              <td>{running} / — / {target}</td>
              <td class="wide">{fmtNum(all.reduce((n, a) => n + a.cpus * a.instances, 0))}</td>
              <td class="wide">{fmtMem(all.reduce((n, a) => n + a.mem * a.instances, 0))}</td>
              <td class="wide" />
            </tr>
            <GroupRows node={g} depth={depth + 1} queued={queued} />
          </>
        );
      })}
      {apps.map((a) => (
        <tr>
          <th scope="row" style={{ paddingLeft: `${0.5 + depth * 1.25}rem` }}>
            {a.pod ? <>{baseName(a.id)} <span class="chip">pod</span></> : <a href={appHref(a.id)}>{baseName(a.id)}</a>}
          </th>
          <td><Status status={a.pod ? a.status : appStatus(a, queued.get(a.id))} /></td>
          <td>
            {a.tasksRunning || 0} / {a.healthChecks && a.healthChecks.length ? a.tasksHealthy || 0 : '—'} / {a.instances}
          </td>
          <td class="wide">{fmtNum(a.cpus)}</td>
          <td class="wide">{fmtMem(a.mem)}</td>
          <td class="wide" title={a.version}>{fmtAgo(a.version)}</td>
        </tr>
      ))}
    </>
  );
}

function allApps(g) {
  return [...g.apps, ...[...g.groups.values()].flatMap(allApps)];
}
