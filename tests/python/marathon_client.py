"""Drives our Marathon with the real PyPI `marathon` client (0.13.0).

Usage: marathon_client.py <marathon url> <timeout seconds>

Creates an app, scales it, updates it (rolling), restarts it, kills tasks
(with and without scale), lists tasks, groups (create, get, scale, delete),
deployments (list, force-cancel), the queue, the event stream, versions,
and deletes. Every step is checked here; one JSON line per step goes to
stdout for the Rust test to check again.
"""

import collections
import collections.abc
import json
import sys
import threading
import time

# marathon 0.13.0 still uses `collections.Iterable`, gone since Python 3.10.
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonClient  # noqa: E402
from marathon.exceptions import MarathonHttpError, ConflictError
from marathon.models import MarathonApp, MarathonGroup, MarathonHealthCheck
from marathon.models.constraint import MarathonConstraint

URL = sys.argv[1]
TIMEOUT = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
c = MarathonClient([URL], timeout=15)
APP = "/compat/web"


def out(step, **kw):
    kw["step"] = step
    print(json.dumps(kw, default=str), flush=True)


def wait(what, cond):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        try:
            if cond():
                return
        except Exception as e:  # noqa: BLE001 - keep polling through transient errors
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def settled(app_id, n, version=None):
    app = c.get_app(app_id, embed_tasks=True)
    if app.deployments or len(app.tasks) != n or app.tasks_running != n:
        return False
    return version is None or all(t.version == version for t in app.tasks)


events = []


def listen():
    try:
        for e in c.event_stream():
            events.append(e.event_type)
    except Exception as e:  # noqa: BLE001
        events.append(f"error: {e}")


threading.Thread(target=listen, daemon=True).start()
wait("the event stream to attach", lambda: "event_stream_attached" in events)

# Create.
app = c.create_app(APP, MarathonApp(cmd="sleep 1000", cpus=0.05, mem=16, instances=1,
                                    labels={"tier": "web"},
                                    constraints=[MarathonConstraint("hostname", "MAX_PER", "100")]))
assert app.id == APP, app.id
assert app.instances == 1
wait("1 running", lambda: settled(APP, 1))
out("create", tasks=1)

# A duplicate POST is a conflict.
try:
    c.create_app(APP, MarathonApp(cmd="sleep 1", cpus=0.05, mem=16))
    raise AssertionError("duplicate create accepted")
except ConflictError:
    out("duplicate", status=409)

# Scale.
d = c.scale_app(APP, instances=3)
assert d["deploymentId"], d
wait("3 running", lambda: settled(APP, 3))
out("scale", tasks=3)

# Rolling update: new command, every task replaced.
d = c.update_app(APP, MarathonApp(cmd="sleep 2000", cpus=0.05, mem=16, instances=3))
version = d["version"]
wait("3 running the new version", lambda: settled(APP, 3, version))
app = c.get_app(APP)
assert app.cmd == "sleep 2000", app.cmd
out("update", version=version)

# Restart: new tasks, same definition.
before = {t.id for t in c.list_tasks(APP)}
d = c.restart_app(APP)
wait("restart done", lambda: settled(APP, 3) and not ({t.id for t in c.list_tasks(APP)} & before))
out("restart", deployment=d["deploymentId"])

# Versions.
versions = c.list_versions(APP)
assert len(versions) >= 3, versions
old = c.get_version(APP, versions[-1])
assert old.instances == 1, old.instances
out("versions", count=len(versions))

# Kill one task: it is replaced.
tasks = c.list_tasks(APP)
victim = tasks[0].id
c.kill_task(APP, victim)
wait("the killed task replaced", lambda: settled(APP, 3) and victim not in {t.id for t in c.list_tasks(APP)})
out("kill", replaced=victim)

# Kill one with scale: the app shrinks to 2.
victim = c.list_tasks(APP)[0].id
assert c.kill_given_tasks([victim], scale=True)
wait("scaled down by the kill", lambda: settled(APP, 2) and c.get_app(APP).instances == 2)
out("kill_scale", instances=2)

# All tasks.
all_tasks = c.list_tasks()
assert len([t for t in all_tasks if t.app_id == APP]) == 2, all_tasks
out("tasks", count=len(all_tasks))

# Apps listing with embeds and a label filter.
apps = c.list_apps(embed_tasks=True, embed_counts=True, embed_deployments=True, label="tier==web")
assert [a.id for a in apps] == [APP], apps
assert len(apps[0].tasks) == 2
out("list_apps", count=len(apps))

# Groups.
c.create_group(MarathonGroup(id="/compat/grp", apps=[
    MarathonApp(id="db", cmd="sleep 1000", cpus=0.05, mem=16, instances=1),
    MarathonApp(id="api", cmd="sleep 1000", cpus=0.05, mem=16, instances=1, dependencies=["db"]),
]))
wait("the group's apps", lambda: settled("/compat/grp/db", 1) and settled("/compat/grp/api", 1))
grp = c.get_group("/compat/grp")
assert sorted(a.id for a in grp.apps) == ["/compat/grp/api", "/compat/grp/db"], grp.apps
groups = c.list_groups()
assert [g.id for g in groups] == ["/compat"], [g.id for g in groups]
c.scale_group("/compat/grp", 2)
wait("the group scaled by 2", lambda: settled("/compat/grp/db", 2) and settled("/compat/grp/api", 2))
out("groups", apps=2)

# Deployments: one that cannot finish (the health check never passes),
# visible in the list and the queue-free view, then force-cancelled.
d = c.update_app(APP, MarathonApp(cmd="sleep 3000", cpus=0.05, mem=16, instances=2,
                                  health_checks=[MarathonHealthCheck(protocol="COMMAND", command={"value": "false"},
                                                                     grace_period_seconds=300, interval_seconds=1,
                                                                     max_consecutive_failures=0)],
                                  upgrade_strategy={"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}))
dep_id = d["deploymentId"]
deps = c.list_deployments()
assert dep_id in [x.id for x in deps], deps
dep = [x for x in deps if x.id == dep_id][0]
assert dep.affected_apps == [APP], dep.affected_apps
try:
    c.scale_app(APP, instances=5)
    raise AssertionError("a locked app was changed")
except ConflictError:
    pass
c.delete_deployment(dep_id, force=True)
wait("the deployment gone", lambda: dep_id not in [x.id for x in c.list_deployments()])
out("deployments", cancelled=dep_id)

# Queue: an app that cannot be placed waits in the queue.
c.create_app("/compat/huge", MarathonApp(cmd="sleep 1", cpus=1000, mem=16, instances=1))
wait("the huge app queued", lambda: any(q.app.id == "/compat/huge" for q in c.list_queue()))
q = [q for q in c.list_queue() if q.app.id == "/compat/huge"][0]
assert q.count == 1, q.count
out("queue", count=q.count)

# Delete everything.
c.delete_app("/compat/huge", force=True)
c.delete_app(APP, force=True)
c.delete_group("/compat/grp", force=True)
wait("everything gone", lambda: not c.list_apps() and not c.list_tasks())
out("delete")

# Events seen by the stream.
for kind in ["api_post_event", "deployment_info", "deployment_success", "status_update_event",
             "instance_changed_event"]:
    assert kind in events, (kind, sorted(set(events)))
out("events", kinds=sorted(set(e for e in events if not e.startswith("error"))))
assert c.ping()
info = c.get_info()
assert info.elected is True and info.name == "marathon", info
out("done")
