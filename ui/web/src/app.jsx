// The shell: the login page without a session; with one, the navigation
// and the router. Every page is a component under ./pages.
import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Router, Route, useLocation } from 'preact-iso';
import { session, checkSession, login, logout } from './api.js';
import { streamState } from './live.js';
import { Overview } from './pages/overview.jsx';
import { Services } from './pages/services.jsx';
import { AppDetail } from './pages/app.jsx';
import { CreateApp } from './pages/create.jsx';
import { Jobs, JobDetail, CreateJob } from './pages/jobs.jsx';
import { Nodes } from './pages/nodes.jsx';
import { TaskLog } from './pages/tasklog.jsx';
import { Settings } from './pages/settings.jsx';
import { Catalog, PackageDetail } from './pages/catalog.jsx';

export function App() {
  useEffect(() => {
    checkSession();
  }, []);
  if (session.value === undefined) return <p class="boot muted">Loading…</p>;
  if (session.value === null) return <Login />;
  return (
    <LocationProvider>
      <Shell>
        <Router>
          <Route path="/" component={Overview} />
          <Route path="/overview" component={Overview} />
          <Route path="/services" component={Services} />
          <Route path="/services/new" component={CreateApp} />
          <Route path="/services/apps/*" component={AppDetail} />
          <Route path="/jobs" component={Jobs} />
          <Route path="/jobs/new" component={CreateJob} />
          <Route path="/jobs/:id" component={JobDetail} />
          <Route path="/catalog" component={Catalog} />
          <Route path="/catalog/:name" component={PackageDetail} />
          <Route path="/nodes" component={Nodes} />
          <Route path="/tasks/:id/logs" component={TaskLog} />
          <Route path="/settings" component={Settings} />
          <Route default component={NotFound} />
        </Router>
      </Shell>
    </LocationProvider>
  );
}

function Login() {
  const [uid, setUid] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(uid, password);
    } catch (err) {
      setError(err.status === 401 ? 'The user name or the password is wrong.' : err.message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Log in to dcos</h1>
        <label>
          User
          <input name="uid" autocomplete="username" required value={uid} onInput={(e) => setUid(e.currentTarget.value)} autofocus />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
        <p class="muted small">The first user is in the admin credentials file the installer wrote.</p>
      </form>
    </main>
  );
}

const NAV = [
  ['/', 'Overview'],
  ['/services', 'Services'],
  ['/jobs', 'Jobs'],
  ['/catalog', 'Catalog'],
  ['/nodes', 'Nodes'],
  ['/settings', 'Settings'],
];

function Shell({ children }) {
  const { path } = useLocation();
  const current = (href) => (href === '/' ? path === '/' || path === '/overview' : path.startsWith(href));
  const live = streamState.value;
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">dcos</span>
        <nav aria-label="Main">
          {NAV.map(([href, label]) => (
            <a href={href} aria-current={current(href) ? 'page' : undefined}>{label}</a>
          ))}
        </nav>
        <span class={`stream stream-${live}`} title="Marathon's event stream">
          {live === 'live' ? '● live' : live === 'connecting' ? '○ connecting' : '○ no events'}
        </span>
        <span class="who">{session.value.uid}</span>
        <button type="button" onClick={logout}>Log out</button>
      </header>
      <main id="main" tabIndex={-1}>{children}</main>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no page here. <a href="/">Go to the overview.</a></p>
    </section>
  );
}
