"""Marathon benchmarks (a) and (b) of issue 4, against a running Marathon.

(a) one app scaled 0 -> N instances: seconds until all are TASK_RUNNING.
(b) APPS apps x PER_APP instances: latency of GET /v2/apps?embed=apps.tasks.

Usage: marathon_bench.py <marathon url> <N> <APPS> <PER_APP> <requests>
Standard library only; prints one line per figure.
"""

import json
import sys
import time
import urllib.request

URL, N, APPS, PER_APP, REQUESTS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(URL + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def counts(prefix):
    apps = call("GET", "/v2/apps")["apps"]
    mine = [a for a in apps if a["id"].startswith(prefix)]
    return sum(a["tasksRunning"] for a in mine), sum(len(a["deployments"]) for a in mine)


def wait_running(prefix, want, timeout):
    start = time.time()
    while time.time() - start < timeout:
        running, _ = counts(prefix)
        if running >= want:
            return time.time() - start
        time.sleep(0.05)
    raise SystemExit(f"timed out: {counts(prefix)} of {want} running")


APP = {"cmd": "sleep 100000", "cpus": 0.01, "mem": 8, "portDefinitions": []}

# (a)
call("POST", "/v2/apps", dict(APP, id="/bench/scale", instances=0))
time.sleep(1)
t0 = time.time()
call("PUT", "/v2/apps/bench/scale", {"instances": N})
secs = wait_running("/bench/scale", N, 600)
print(f"(a) scale 0 -> {N}: all running after {secs:.2f} s ({N / secs:.0f} instances/s)", flush=True)
call("DELETE", "/v2/apps/bench/scale?force=true")
while counts("/bench/scale")[0] > 0 or any(t["appId"] == "/bench/scale" for t in call("GET", "/v2/tasks")["tasks"]):
    time.sleep(0.2)

# (b)
apps = [dict(APP, id=f"/bench/many/app-{i:04d}", instances=PER_APP) for i in range(APPS)]
for i in range(0, len(apps), 100):
    call("PUT", "/v2/apps?force=true", apps[i:i + 100])
secs = wait_running("/bench/many/", APPS * PER_APP, 900)
print(f"(b) setup: {APPS} apps x {PER_APP} = {APPS * PER_APP} instances running after {secs:.2f} s", flush=True)
lat = []
size = 0
for _ in range(REQUESTS):
    t = time.time()
    req = urllib.request.Request(URL + "/v2/apps?embed=apps.tasks")
    with urllib.request.urlopen(req, timeout=120) as r:
        body = r.read()
    lat.append((time.time() - t) * 1000)
    size = len(body)
    tasks = sum(len(a["tasks"]) for a in json.loads(body)["apps"])
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"(b) GET /v2/apps?embed=apps.tasks with {APPS} apps / {tasks} tasks ({size / 1e6:.1f} MB): "
      f"p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms over {REQUESTS} requests", flush=True)
