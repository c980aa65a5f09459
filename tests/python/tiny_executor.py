#!/usr/bin/env python3
"""A minimal Mesos custom executor (stdlib only), for the kernel tests.

Reads the Mesos executor environment, SUBSCRIBEs to the agent's executor
API, and for each LAUNCH reports TASK_RUNNING then TASK_FINISHED (after
writing a file named after the task into the sandbox); exits once the
agent has acknowledged the terminal update. A KILL is answered with
TASK_KILLED.
"""
import base64
import http.client
import json
import os
import sys
import uuid

ENV = os.environ
HOST, PORT = ENV["MESOS_AGENT_ENDPOINT"].rsplit(":", 1)
FRAMEWORK = {"value": ENV["MESOS_FRAMEWORK_ID"]}
EXECUTOR = {"value": ENV["MESOS_EXECUTOR_ID"]}
assert ENV["MESOS_CHECKPOINT"] == "1"
assert os.path.samefile(ENV["MESOS_SANDBOX"], os.getcwd())
assert ENV["MESOS_DIRECTORY"] == ENV["MESOS_SANDBOX"]


def call(body, stream=False):
    conn = http.client.HTTPConnection(HOST, int(PORT), timeout=60)
    body.update({"framework_id": FRAMEWORK, "executor_id": EXECUTOR})
    conn.request(
        "POST",
        "/api/v1/executor",
        body=json.dumps(body),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    resp = conn.getresponse()
    if not stream:
        if resp.status != 202:
            sys.exit(f"{body['type']} answered {resp.status}: {resp.read()!r}")
        resp.read()
        conn.close()
    return resp


def events(resp):
    """RecordIO: <length>\\n<json>."""
    while True:
        size = b""
        while not size.endswith(b"\n"):
            c = resp.read(1)
            if not c:
                return
            size += c
        yield json.loads(resp.read(int(size)))


def update(task_id, state, message):
    uid = uuid.uuid4().bytes
    call({
        "type": "UPDATE",
        "update": {"status": {
            "task_id": task_id,
            "state": state,
            "message": message,
            "source": "SOURCE_EXECUTOR",
            "uuid": base64.b64encode(uid).decode(),
        }},
    })
    return base64.b64encode(uid).decode()


resp = call({"type": "SUBSCRIBE", "subscribe": {}}, stream=True)
if resp.status != 200:
    sys.exit(f"SUBSCRIBE answered {resp.status}: {resp.read()!r}")
final = None
for event in events(resp):
    kind = event["type"]
    print("event", kind, flush=True)
    if kind == "LAUNCH":
        task = event["launch"]["task"]
        update(task["task_id"], "TASK_RUNNING", "tiny executor running")
        with open(f"ran-{task['task_id']['value']}", "w") as f:
            f.write(ENV["MESOS_EXECUTOR_ID"])
        final = update(task["task_id"], "TASK_FINISHED", "tiny executor done")
    elif kind == "KILL":
        final = update(event["kill"]["task_id"], "TASK_KILLED", "tiny executor killed")
    elif kind == "ACKNOWLEDGED" and event["acknowledged"]["uuid"] == final:
        print("terminal update acknowledged; exiting", flush=True)
        break
    elif kind == "SHUTDOWN":
        break
