// Small presentational pieces shared by the pages.
import { useEffect, useRef, useState } from 'preact/hooks';

export function ErrorBox({ error, what }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {what ? `${what}: ` : ''}
      {error.message || String(error)}
    </p>
  );
}

export function Loading({ what }) {
  return <p class="muted" aria-live="polite">Loading {what}…</p>;
}

export function Status({ status }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}

export const fmtMem = (mib) => (mib >= 1024 ? `${(mib / 1024).toFixed(1)} GiB` : `${Math.round(mib)} MiB`);
export const fmtNum = (n) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString();
}

export function fmtAgo(iso) {
  if (!iso) return '—';
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (Number.isNaN(s)) return iso;
  if (s < 0) return `in ${fmtDuration(-s)}`;
  return `${fmtDuration(s)} ago`;
}

export function fmtDuration(s) {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

/**
 * A two-step button: the first press asks, the second does. While it
 * asks, the focus is on Cancel (a keyboard's Enter does no harm), and
 * back on the button after.
 */
export function ConfirmButton({ label, confirm, onConfirm, disabled, danger }) {
  const [asking, setAsking] = useState(false);
  const cancel = useRef(null);
  const button = useRef(null);
  const asked = useRef(false);
  useEffect(() => {
    if (asking) cancel.current?.focus();
    else if (asked.current) button.current?.focus(); // back where it was
    asked.current = asking;
  }, [asking]);
  if (!asking) {
    return (
      <button type="button" ref={button} class={danger ? 'danger' : ''} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={confirm}>
      <span>{confirm}</span>
      <button type="button" class="danger" onClick={() => { setAsking(false); onConfirm(); }}>
        Yes, {label.toLowerCase()}
      </button>
      <button type="button" ref={cancel} onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}
