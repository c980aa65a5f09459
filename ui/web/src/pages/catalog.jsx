// The package catalog (Cosmos through the gateway): search the packages
// of every repository, see what is installed and uninstall it; a
// package's page installs it with a form generated from its options'
// JSON Schema, after a review of the Marathon app it renders to.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useRoute } from 'preact-iso';
import { appHref } from '../api.js';
import { cosmos, errorPointer, versionsOf, iconOf } from '../cosmos.js';
import { useLoad, useAction } from '../hooks.js';
import { SchemaForm, initialValues, collect, pointers, fieldId } from '../schemaform.jsx';
import { ErrorBox, Loading, ConfirmButton } from '../ui.jsx';

/** A package's icon, or its first letter when it has none or it does not load. */
export function PackageIcon({ name, images, big }) {
  const src = iconOf(images);
  const [failed, setFailed] = useState(false);
  useEffect(() => setFailed(false), [src]);
  const size = big ? 64 : 40;
  if (src && !failed) {
    return <img class="pkg-icon" src={src} alt={`${name} icon`} width={size} height={size} loading="lazy" onError={() => setFailed(true)} />;
  }
  return <span class={`pkg-icon letter${big ? ' big' : ''}`} aria-hidden="true">{(name || '?').charAt(0).toUpperCase()}</span>;
}

export function Catalog() {
  const [query, setQuery] = useState('');
  const [asked, setAsked] = useState('');
  // Filter as the user types, a moment after the last key.
  useEffect(() => {
    const t = setTimeout(() => setAsked(query.trim()), 250);
    return () => clearTimeout(t);
  }, [query]);
  const found = useLoad(`search:${asked}`, async () => ({ q: asked, ...(await cosmos('search', asked ? { query: asked } : {})) }));
  const packages = (found.data && found.data.packages) || [];
  const q = found.data && found.data.q;
  // `/catalog#installed` (from an install's page): there, once drawn.
  useEffect(() => {
    if (found.data && location.hash === '#installed') document.getElementById('installed')?.scrollIntoView();
  }, [!!found.data]);
  return (
    <section>
      <div class="titlebar">
        <h1>Catalog</h1>
        <a href="#installed">Installed packages</a>
      </div>
      <form role="search" class="search" onSubmit={(e) => { e.preventDefault(); setAsked(query.trim()); }}>
        <label for="catalog-query">Search packages</label>
        <input id="catalog-query" name="query" type="search" value={query} placeholder="name, tag or words; * matches anything"
          onInput={(e) => setQuery(e.currentTarget.value)} />
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={found.error} what="Cannot search the catalog" />
      {!found.data ? (!found.error && <Loading what="packages" />) : (
        <>
          <p class="muted small" aria-live="polite" data-testid="found">
            {packages.length === 0
              ? q ? `No package matches “${q}”: try fewer words, or * as a wildcard.` : 'The catalog is empty: add a package repository in Settings.'
              : packages.length === 1
                ? `1 package${q ? ` matches “${q}”` : ''}`
                : `${packages.length} packages${q ? ` match “${q}”` : ''}`}
          </p>
          <ul class="cards">
            {packages.map((p) => (
              <li class="card" key={p.name}>
                <PackageIcon name={p.name} images={p.images} />
                <div class="card-body">
                  <h2><a href={`/catalog/${encodeURIComponent(p.name)}`}>{p.name}</a></h2>
                  <p class="muted small">
                    {p.currentVersion}
                    {p.selected && <span class="badge" title="Picked by the repository">Selected</span>}
                    {p.framework && <span class="chip">framework</span>}
                  </p>
                  <p class="desc">{p.description}</p>
                  {(p.tags || []).length > 0 && (
                    <p class="tags"><span class="sr-only">Tags: </span>{p.tags.map((t) => <span class="chip">{t}</span>)}</p>
                  )}
                </div>
              </li>
            ))}
          </ul>
        </>
      )}
      <Installed />
    </section>
  );
}

/** What is installed (Cosmos reads Marathon's labels), with Uninstall. */
function Installed() {
  const { data, error, reload } = useLoad('installed', () => cosmos('list', {}), { live: 'marathon' });
  const action = useAction();
  const uninstall = async (name, appId) => {
    const r = await action.run(null, () => cosmos('uninstall', { packageName: name, appId }));
    if (r) {
      const notes = (r.results || []).map((x) => x.postUninstallNotes).filter(Boolean).join(' ');
      action.setDone(`Uninstalled ${appId}.${notes ? ` ${notes}` : ''}`);
    }
    reload();
  };
  const rows = (data && data.packages) || [];
  return (
    <>
      <h2 id="installed">Installed packages</h2>
      <ErrorBox error={error} what="Cannot list the installed packages" />
      <ErrorBox error={action.error} what="Not uninstalled" />
      <p class="notice" aria-live="polite">{action.done || ''}</p>
      {!data ? (!error && <Loading what="installed packages" />) : rows.length === 0 ? (
        <p class="empty">Nothing installed from the catalog. Open a package above to install it.</p>
      ) : (
        <div class="scroll">
          <table class="installed">
            <thead><tr><th scope="col">App</th><th scope="col">Package</th><th scope="col">Version</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {rows.map((r) => {
                const def = (r.packageInformation || {}).packageDefinition || {};
                return (
                  <tr key={r.appId}>
                    <th scope="row"><a href={appHref(r.appId)}>{r.appId}</a></th>
                    <td><a href={`/catalog/${encodeURIComponent(def.name || '')}`}>{def.name}</a></td>
                    <td>{def.version}</td>
                    <td>
                      <ConfirmButton label="Uninstall" danger disabled={action.busy}
                        confirm={`Uninstall ${r.appId}? Its tasks are killed.`}
                        onConfirm={() => uninstall(def.name, r.appId)} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

export function PackageDetail() {
  const { params } = useRoute();
  const name = params.name || '';
  const [version, setVersion] = useState('');
  useEffect(() => setVersion(''), [name]);
  const versions = useLoad(`versions:${name}`, () => cosmos('list-versions', { packageName: name, includePackageVersions: true }));
  const desc = useLoad(`describe:${name}@${version}`, () =>
    cosmos('describe', version ? { packageName: name, packageVersion: version } : { packageName: name }));
  const pkg = desc.data && desc.data.package;
  const all = versionsOf(versions.data && versions.data.results);
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb"><a href="/catalog">Catalog</a> / {name}</nav>
      <div class="pkg-head">
        <PackageIcon name={name} images={pkg && pkg.resource && pkg.resource.images} big />
        <div>
          <h1>{name}</h1>
          {pkg && (
            <p class="muted">
              {pkg.version}
              {pkg.selected && <span class="badge">Selected</span>}
              {pkg.maintainer && <> · {pkg.maintainer}</>}
            </p>
          )}
        </div>
      </div>
      <ErrorBox error={desc.error} what={`Cannot show ${name}`} />
      {!pkg ? (!desc.error && <Loading what="the package" />) : (
        <div class="pkg-layout">
          <div>
            <p>{pkg.description}</p>
            {(pkg.tags || []).length > 0 && <p><span class="sr-only">Tags: </span>{pkg.tags.map((t) => <span class="chip">{t}</span>)}</p>}
            {(pkg.licenses || []).length > 0 && (
              <p class="small muted">License: {pkg.licenses.map((l, i) => <>{i > 0 && ', '}{l.url ? <a href={l.url} rel="noreferrer">{l.name}</a> : l.name}</>)}</p>
            )}
            <div class="actions">
              <label class="inline-label" for="pkg-version">Version</label>
              <select id="pkg-version" name="version" value={version || pkg.version} onChange={(e) => setVersion(e.currentTarget.value)}>
                {(all.length ? all : [pkg.version]).map((v) => <option value={v}>{v}{v === all[0] ? ' (newest)' : ''}</option>)}
              </select>
              <ErrorBox error={versions.error} what="Cannot list the versions" />
            </div>
            {pkg.preInstallNotes && (
              <div class="panel">
                <h2>Before you install</h2>
                <p>{pkg.preInstallNotes}</p>
              </div>
            )}
          </div>
          <div class="pkg-install">
            <Installer key={`${name}@${pkg.version}`} pkg={pkg} />
          </div>
        </div>
      )}
    </section>
  );
}

/** Marathon's id rules, segment by segment. */
const APP_ID = /^\/?(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(\.([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*)(\/([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])(\.([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9]))*)*\/?$/;

/** Options → Review (the rendered Marathon app) → Install → what to do next. */
function Installer({ pkg }) {
  const schema = pkg.config && pkg.config.properties ? pkg.config : null;
  const [values, setValues] = useState(() => initialValues(schema));
  const [touched, setTouched] = useState(() => new Set());
  const [showAll, setShowAll] = useState(false);
  const [serverErrors, setServerErrors] = useState({});
  const [appId, setAppId] = useState('');
  const [step, setStep] = useState('options');
  const [rendered, setRendered] = useState(null);
  const [installed, setInstalled] = useState(null);
  const action = useAction();
  const heading = useRef(null);
  useEffect(() => {
    if (step !== 'options' && heading.current) heading.current.focus();
  }, [step]);

  const { options, errors } = collect(schema, values);
  const idError = appId.trim() && !APP_ID.test(appId.trim())
    ? 'Use lowercase letters, digits and hyphens, in parts separated by / (such as /hello-world or /team/web).'
    : null;
  const shown = {};
  for (const [p, e] of Object.entries(errors)) if (showAll || touched.has(p)) shown[p] = e;
  Object.assign(shown, serverErrors);
  const known = new Set(pointers(schema));
  const elsewhere = Object.entries(serverErrors).filter(([p]) => !known.has(p));
  const body = () => {
    const b = { packageName: pkg.name, packageVersion: pkg.version, options };
    if (appId.trim()) b.appId = appId.trim();
    return b;
  };
  const input = (ptr, v) => {
    setValues((old) => ({ ...old, [ptr]: v }));
    setTouched((old) => new Set(old).add(ptr));
    setServerErrors(({ [ptr]: _, ...rest }) => rest);
  };
  // Cosmos' schema errors go next to the fields they name.
  const refused = (e) => {
    const list = (e && e.body && e.body.type === 'JsonSchemaMismatch' && e.body.data && e.body.data.errors) || [];
    if (!list.length) return false;
    const byField = {};
    for (const x of list) {
      const p = errorPointer(x);
      byField[p] = byField[p] ? `${byField[p]} ${x.message}` : x.message;
    }
    setServerErrors(byField);
    setStep('options');
    const first = pointers(schema).find((p) => byField[p]);
    if (first) setTimeout(() => document.getElementById(fieldId(first))?.focus(), 0);
    return true;
  };
  const review = async (e) => {
    e.preventDefault();
    setShowAll(true);
    const wrong = pointers(schema).filter((p) => errors[p] || serverErrors[p]);
    if (idError) {
      document.getElementById('pkg-app-id').focus();
      return;
    }
    if (wrong.length) {
      document.getElementById(fieldId(wrong[0])).focus();
      return;
    }
    const r = await action.run(null, () => cosmos('render', body()));
    if (r) {
      setRendered(r.marathonJson);
      setStep('review');
    }
  };
  const install = async () => {
    const r = await action.run(null, () => cosmos('install', body()));
    if (r) {
      setInstalled(r);
      setStep('installed');
    }
  };
  // A refused render or install with schema errors goes back to the form.
  useEffect(() => {
    if (action.error) refused(action.error);
  }, [action.error]);

  if (step === 'installed') {
    return (
      <div class="panel done" data-testid="installed">
        <h2 ref={heading} tabIndex={-1}>Installed {pkg.name} as {installed.appId}</h2>
        {(installed.postInstallNotes || pkg.postInstallNotes) && <p>{installed.postInstallNotes || pkg.postInstallNotes}</p>}
        <p class="actions">
          <a class="button primary" href={appHref(installed.appId)}>See {installed.appId} in Services</a>
          <a class="button" href="/catalog#installed">Installed packages</a>
        </p>
      </div>
    );
  }
  if (step === 'review') {
    const id = (rendered && rendered.id) || appId;
    return (
      <div>
        <h2 ref={heading} tabIndex={-1}>Review</h2>
        <p>Marathon will run this app{id ? <> as <strong>{id}</strong></> : ''}:</p>
        <ErrorBox error={action.error} what="Not installed" />
        <div class="actions">
          <button type="button" class="primary" onClick={install} disabled={action.busy}>{action.busy ? 'Installing…' : 'Install'}</button>
          <button type="button" onClick={() => setStep('options')} disabled={action.busy}>Back to the options</button>
        </div>
        <pre class="json" tabIndex={0} aria-label="The rendered Marathon app (JSON)" data-testid="rendered">
          {JSON.stringify(rendered && { id: rendered.id, ...rendered }, null, 2)}
        </pre>
      </div>
    );
  }
  const count = Object.keys(shown).length + (idError ? 1 : 0);
  return (
    <form class="install" onSubmit={review} noValidate aria-labelledby="install-title">
      <h2 id="install-title">Install</h2>
      <div class="field">
        <label for="pkg-app-id">App id <span class="muted small">(optional)</span></label>
        <input id="pkg-app-id" name="appId" value={appId} autocomplete="off" spellcheck={false} placeholder="the package's own"
          aria-invalid={idError ? 'true' : undefined} aria-describedby={idError ? 'pkg-app-id-error pkg-app-id-help' : 'pkg-app-id-help'}
          onInput={(e) => setAppId(e.currentTarget.value)} />
        {idError && <p id="pkg-app-id-error" class="field-error">{idError}</p>}
        <p id="pkg-app-id-help" class="help">The Marathon app id to install as. Empty: the id the package gives itself (the review shows it).</p>
      </div>
      {schema ? (
        <SchemaForm schema={schema} values={values} onInput={input} errors={shown} />
      ) : (
        <p class="muted">This package has no options.</p>
      )}
      {elsewhere.length > 0 && (
        <ul class="error" role="alert">
          {elsewhere.map(([p, m]) => <li>{p || 'The options'}: {m}</li>)}
        </ul>
      )}
      {showAll && count > 0 && (
        <p class="error" role="alert">{count === 1 ? 'One field needs' : `${count} fields need`} a change: see the marks above.</p>
      )}
      {action.error && !(action.error.body && action.error.body.type === 'JsonSchemaMismatch') && (
        <ErrorBox error={action.error} what="Cannot review the app" />
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={action.busy}>{action.busy ? 'Rendering…' : 'Review'}</button>
      </div>
    </form>
  );
}
