// Live data while logged in, from two streams through the gateway (both
// authenticated by the cookie):
// - Marathon's event stream (`/marathon/v2/events`, SSE): `marathonTick`;
// - the master's operator API `SUBSCRIBE` (`POST /mesos/api/v1`, RecordIO
//   of JSON records: TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
//   …): `masterTick`.
// Pages do not poll what these cover: they reload when a tick moves, at
// most every 250 ms while events arrive. The last events of both are
// kept for the Overview.
import { signal, effect } from '@preact/signals';
import { session } from './api.js';

export const marathonTick = signal(0);
export const masterTick = signal(0);
export const lastEvents = signal([]);
/** 'connecting' | 'live' | 'down' */
export const streamState = signal('connecting');

const KINDS = [
  'api_post_event', 'status_update_event', 'instance_changed_event', 'instance_health_changed_event',
  'health_status_changed_event', 'failed_health_check_event', 'unhealthy_instance_kill_event',
  'unhealthy_task_kill_event', 'deployment_info', 'deployment_success', 'deployment_failed',
  'deployment_step_success', 'deployment_step_failure', 'group_change_success', 'group_change_failed',
  'app_terminated_event', 'pod_created_event', 'pod_updated_event', 'pod_deleted_event',
  'unknown_instance_terminated_event', 'framework_message_event', 'scheduler_registered_event',
];

let source = null;
let master = null; // AbortController of the SUBSCRIBE request
const pending = new Map();

function bumper(tick) {
  return () => {
    if (pending.has(tick)) return;
    pending.set(tick, setTimeout(() => {
      pending.delete(tick);
      tick.value++;
    }, 250));
  };
}
const bump = bumper(marathonTick);
const bumpMaster = bumper(masterTick);

function remember(kind, data, at) {
  lastEvents.value = [{ kind, data, at: at || new Date().toISOString() }, ...lastEvents.value].slice(0, 50);
}

/** Reads RecordIO (`<length>\n<bytes>`…) from a fetch body, one JSON record at a time. */
async function readRecordIO(body, onRecord) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buf.length + value.length);
    joined.set(buf);
    joined.set(value, buf.length);
    buf = joined;
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0) break;
      const len = Number(decoder.decode(buf.subarray(0, nl)));
      if (buf.length < nl + 1 + len) break;
      const record = decoder.decode(buf.subarray(nl + 1, nl + 1 + len));
      buf = buf.slice(nl + 1 + len);
      try {
        onRecord(JSON.parse(record));
      } catch {
        /* not JSON: skip it */
      }
    }
  }
}

const MASTER_KINDS = new Set(['TASK_ADDED', 'TASK_UPDATED', 'AGENT_ADDED', 'AGENT_REMOVED', 'FRAMEWORK_ADDED', 'FRAMEWORK_REMOVED']);

async function subscribeMaster(ctl) {
  while (!ctl.signal.aborted) {
    try {
      const res = await fetch('/mesos/api/v1', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ type: 'SUBSCRIBE' }),
        signal: ctl.signal,
      });
      if (res.status === 401) {
        session.value = null;
        return;
      }
      if (res.ok && res.body) {
        await readRecordIO(res.body, (ev) => {
          if (ev.type === 'SUBSCRIBED') bumpMaster();
          if (!MASTER_KINDS.has(ev.type)) return;
          remember(ev.type, ev[ev.type.toLowerCase()] || {}, null);
          bumpMaster();
        });
      }
    } catch {
      /* aborted or the connection broke: try again below */
    }
    // The leader changed, or the gateway restarted: subscribe again.
    await new Promise((r) => setTimeout(r, 2000));
  }
}

function open() {
  source = new EventSource('/marathon/v2/events');
  streamState.value = 'connecting';
  source.addEventListener('event_stream_attached', () => {
    streamState.value = 'live';
    bump(); // what happened while we were away
  });
  source.onerror = () => {
    // EventSource reconnects by itself; a 401 ends it (session gone).
    streamState.value = source && source.readyState === EventSource.CLOSED ? 'down' : 'connecting';
  };
  for (const kind of KINDS) {
    source.addEventListener(kind, (e) => {
      let data = {};
      try {
        data = JSON.parse(e.data);
      } catch {
        /* keep the kind */
      }
      remember(kind, data, data.timestamp);
      bump();
    });
  }
}

// Browsers allow 6 HTTP/1.1 connections per host, across tabs: the
// streams are closed when the page goes away (navigation, back/forward
// cache) and when the tab has been hidden for 10 s, and opened again
// (with a reload of what they cover) when it comes back.
let hidden = false;
let hideTimer = null;

function start() {
  if (!source) open();
  if (!master) {
    master = new AbortController();
    subscribeMaster(master);
  }
}

function stop() {
  if (source) source.close();
  if (master) master.abort();
  source = null;
  master = null;
  streamState.value = 'down';
}

effect(() => {
  if (session.value && !hidden) {
    start();
  } else {
    stop();
    if (!session.value) lastEvents.value = [];
  }
});

addEventListener('pagehide', () => {
  hidden = true;
  stop();
});
addEventListener('pageshow', (e) => {
  hidden = false;
  if (e.persisted && session.value) start();
});
document.addEventListener('visibilitychange', () => {
  clearTimeout(hideTimer);
  if (document.visibilityState === 'hidden') {
    hideTimer = setTimeout(() => {
      hidden = true;
      stop();
    }, 10000);
  } else if (hidden) {
    hidden = false;
    if (session.value) start();
  }
});
