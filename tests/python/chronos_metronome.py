"""dcos-metronome 0.3.0 drives our Metronome v1 API: create, list, get and
update a job; add, read, update and delete a cron schedule (with
nextRunAt); trigger a run and follow it to SUCCESS; stop a long run;
delete the job.

Usage: chronos_metronome.py URL TIMEOUT_SECONDS
Prints one JSON line per step; exits non-zero on any failure.
"""
import json
import sys
import time

from google.protobuf.json_format import Parse
from metronome import MetronomeClient
from metronome.models import JobSpec
from metronome.models.metronome_pb2 import ScheduleSpec

url, timeout = sys.argv[1], float(sys.argv[2])
m = MetronomeClient(url)


def step(name, **kw):
    print(json.dumps(dict(step=name, **kw)), flush=True)


def wait(what, cond):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting until " + what)


assert m.ping().strip() == "pong"

spec = Parse(json.dumps({
    "id": "py.metronome-job",
    "description": "from the PyPI client",
    "labels": {"team": "ops"},
    "run": {"cmd": "echo hello from metronome", "cpus": 0.1, "mem": 32, "disk": 0},
}), JobSpec())
created = m.create_job(spec)
assert created.id == "py.metronome-job", created
assert created.run.cmd == "echo hello from metronome"
step("created")

jobs = m.list_jobs()
assert [j.id for j in jobs] == ["py.metronome-job"], jobs
got = m.get_job("py.metronome-job")
assert got.labels["team"] == "ops"
got.description = "changed"
updated = m.update_job("py.metronome-job", got)
assert updated.description == "changed"
step("listed_and_updated")

sched = ScheduleSpec(id="nightly", cron="30 2 * * *", timezone="Europe/Berlin", startingDeadlineSeconds=60)
s = m.create_schedule("py.metronome-job", sched)
assert s.id == "nightly" and s.nextRunAt, s
first_next = s.nextRunAt
assert [x.id for x in m.list_schedules("py.metronome-job")] == ["nightly"]
assert m.get_schedule("py.metronome-job", "nightly").cron == "30 2 * * *"
sched.cron = "0 12 * * *"
s2 = m.update_schedule("py.metronome-job", "nightly", sched)
assert s2.cron == "0 12 * * *" and s2.nextRunAt != first_next, (s2, first_next)
step("schedules", next_run_at=s2.nextRunAt)

run = m.run_job("py.metronome-job")
assert run.jobId == "py.metronome-job"
step("triggered", run=run.id)
wait("the run succeeded", lambda: m.get_run("py.metronome-job", run.id).status == run.SUCCESS)
done = m.get_run("py.metronome-job", run.id)
assert len(done.tasks) == 1 and done.tasks[0].status == done.tasks[0].TASK_FINISHED, done
step("succeeded", tasks=[t.id for t in done.tasks])

long = Parse(json.dumps({"id": "py.sleeper", "run": {"cmd": "sleep 600", "cpus": 0.1, "mem": 32, "disk": 0}}), JobSpec())
m.create_job(long)
r = m.run_job("py.sleeper")
wait("the sleeper is active", lambda: m.get_run("py.sleeper", r.id).status == r.ACTIVE)
assert [x.id for x in m.list_runs("py.sleeper")] == [r.id]
m.stop_run("py.sleeper", r.id)
wait("the sleeper failed", lambda: m.get_run("py.sleeper", r.id).status == r.FAILED)
assert m.list_runs("py.sleeper") == []
step("stopped")

m.delete_schedule("py.metronome-job", "nightly")
assert m.list_schedules("py.metronome-job") == []
m.delete_job("py.metronome-job")
m.delete_job("py.sleeper")
assert m.list_jobs() == []
step("deleted")
