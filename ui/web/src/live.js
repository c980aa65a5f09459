// Live data: Marathon's event stream (`/marathon/v2/events`, SSE through
// the gateway, authenticated by the cookie) while logged in. Pages do not
// poll Marathon: they reload when `marathonTick` moves, which happens at
// most every 250 ms while events arrive. The last events are kept for
// the Overview.
import { signal, effect } from '@preact/signals';
import { session } from './api.js';

export const marathonTick = signal(0);
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
let pending = null;

function bump() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    marathonTick.value++;
  }, 250);
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
      lastEvents.value = [{ kind, data, at: data.timestamp || new Date().toISOString() }, ...lastEvents.value].slice(0, 50);
      bump();
    });
  }
}

effect(() => {
  if (session.value) {
    if (!source) open();
  } else if (source) {
    source.close();
    source = null;
    lastEvents.value = [];
  }
});
