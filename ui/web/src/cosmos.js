// The package manager (Cosmos) through the gateway: `POST /package/<call>`
// with its versioned media types, and its errors (`{type, message, data}`)
// said in words that tell what to do.
import { api } from './api.js';

const media = (kind, version) => `application/vnd.dcos.${kind}+json;charset=utf-8;version=v${version}`;
/** The response versions the dashboard reads (v1 unless named). */
const RESPONSE = { describe: 3, install: 2 };

/** `cosmos('search', {query})`, `cosmos('repository/add', {...})`, … */
export async function cosmos(call, body = {}) {
  const kind = `package.${call.replace(/\//g, '.')}`;
  try {
    return await api(`/package/${call}`, {
      method: 'POST',
      body,
      headers: {
        'Content-Type': media(`${kind}-request`, 1),
        Accept: media(`${kind}-response`, RESPONSE[call] || 1),
      },
    });
  } catch (e) {
    if (e.body && typeof e.body.type === 'string') e.message = advice(e.body);
    throw e;
  }
}

/** A Cosmos error in words, with what to do about it. */
export function advice({ type, message, data = {} }) {
  const d = data || {};
  switch (type) {
    case 'JsonSchemaMismatch':
      return 'The package does not accept these options: correct the fields marked below.';
    case 'PackageAlreadyInstalled':
      return 'An app with this id is already running. Choose another App id, or uninstall the installed one first.';
    case 'PackageNotFound':
    case 'VersionNotFound':
      return `${message}. Its repository may have been removed or changed: go back to the catalog and search again.`;
    case 'OptionsNotAllowed':
      return 'This package takes no options: install it as it is.';
    case 'MarathonTemplateMissingValue':
    case 'MarathonTemplateInvalid':
    case 'MarathonTemplateMustBeJsonObject':
    case 'PackageFileSchemaMismatch':
      return `This version of the package is broken (${message}). Choose another version, or tell its maintainer.`;
    case 'MarathonBadResponse': {
      const why = (d.errors || []).map((x) => `${x.path || ''} ${(x.errors || []).join('; ')}`.trim()).join(' — ');
      return `Marathon refused the app: ${why || message}. Change the options and try again.`;
    }
    case 'ArtifactUnavailable':
      return `${message}. Import the package's offline bundle (dcos package bundle import), then install again.`;
    case 'PackageNotInstalled':
    case 'UninstallNonExistentAppForPackage':
    case 'MarathonAppNotFound':
      return `${message}: it is already gone. The list shows what is installed now.`;
    case 'RepositoryAlreadyPresent':
      return 'A repository with this name or URI is already in the list. Choose another name, or remove the old one first.';
    case 'RepositoryNotPresent':
      return 'That repository is not in the list any more: the list shows what is there now.';
    case 'RepositoryAddIndexOutOfBounds':
      return `There is no such position: give a number from 1 to ${(d.max ?? 0) + 1}, or leave it empty to add the repository last.`;
    case 'RepositoryUriConnection':
      return `Cannot read ${d.uri || 'the URI'}${d.cause ? ` (${d.cause})` : ''}. Check the address: an absolute path on the masters, or an http(s):// URL they can reach.`;
    case 'RepositoryUriSyntax':
      return `${d.uri || 'The URI'} is not a package repository${d.cause ? ` (${d.cause})` : ''}. Point it at a folder with repo/packages/…, a zip of one, or an index JSON file.`;
    case 'UnsupportedRepositoryUri': // its message says what to use
      return `${message.charAt(0).toUpperCase()}${message.slice(1)}.`;
    case 'RepositoryNameEmpty':
    case 'RepoNameOrUriMissing':
      return 'Give the repository a name and a URI.';
    case 'ServiceUnavailable':
      return `${message} — the cluster is busy or electing a leader: try again in a moment.`;
    default:
      return message || type;
  }
}

/** The JSON pointer a schema error (`data.errors[]`) names: `/service/name`, '' for the whole. */
export function errorPointer(err) {
  const pointer = (err.instance && err.instance.pointer) || '';
  // A missing required property is reported at its object.
  const m = err.keyword === 'required' && /"([^"]+)" is a required property/.exec(err.message || '');
  return m ? `${pointer}/${m[1].replace(/~/g, '~0').replace(/\//g, '~1')}` : pointer;
}

/** The newest first: list-versions' `{version: releaseVersion}`. */
export function versionsOf(results) {
  return Object.entries(results || {})
    .sort((a, b) => Number(b[1]) - Number(a[1]) || b[0].localeCompare(a[0]))
    .map(([v]) => v);
}

/** The icon a package's `resource.images` names, if any. */
export const iconOf = (images) => images && (images['icon-medium'] || images['icon-small'] || images['icon-large']);
