"""chronos-python 1.2.1 drives our Chronos v1 API: add a scheduled and a
dependent job, list, search, run, watch the child follow its parent, read
the graph and stats, see a bad schedule refused, delete.

Usage: chronos_client.py HOST:PORT TIMEOUT_SECONDS
Prints one JSON line per step; exits non-zero on any failure.
"""
import json
import sys
import time

import chronos

addr, timeout = sys.argv[1], float(sys.argv[2])
c = chronos.connect(addr)


def step(name, **kw):
    print(json.dumps(dict(step=name, **kw)), flush=True)


def wait(what, cond):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting until " + what)


parent = {
    "name": "py-parent",
    "command": "echo parent",
    "schedule": "R/2030-01-01T00:00:00Z/P1D",
    "owner": "ops@example.com",
    "disabled": False,
    "concurrent": True,
    "cpus": 0.1,
    "mem": 32,
    "disk": 0,
}
child = {
    "name": "py-child",
    "command": "echo child",
    "parents": ["py-parent"],
    "owner": "ops@example.com",
    "disabled": False,
    "cpus": 0.1,
    "mem": 32,
    "disk": 0,
}
c.add(parent)
c.add(child)
names = sorted(j["name"] for j in c.list())
assert names == ["py-child", "py-parent"], names
step("added", names=names)

found = c.search(name="py-par")
assert [j["name"] for j in found] == ["py-parent"], found
assert c.search(command="echo child")[0]["name"] == "py-child"
step("searched")

c.run("py-parent")


def counts(name):
    return [j for j in c.list() if j["name"] == name][0]["successCount"]


wait("parent and child succeeded", lambda: counts("py-parent") >= 1 and counts("py-child") >= 1)
step("ran", parent=counts("py-parent"), child=counts("py-child"))

graph = c.scheduler_graph()
assert "link,py-parent,py-child" in graph, graph
stat = c.job_stat("py-parent")
assert stat["histogram"]["count"] >= 1, stat
metrics = c.metrics()
assert metrics["counters"]["runs.succeeded"]["count"] >= 2, metrics
step("graph_and_stats", graph=graph)

# Update: same name replaces.
parent["description"] = "updated"
c.update(parent)
assert [j for j in c.list() if j["name"] == "py-parent"][0]["description"] == "updated"

bad = dict(parent, name="py-bad", schedule="R/not-a-date/PT1S")
try:
    c.add(bad)
    raise AssertionError("a bad schedule was accepted")
except chronos.ChronosAPIError as e:
    step("bad_schedule_refused", error=str(e))
assert "py-bad" not in [j["name"] for j in c.list()]

c.delete("py-child")
c.delete("py-parent")
assert c.list() == [], c.list()
step("deleted")
