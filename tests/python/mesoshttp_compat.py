"""Drive our master with the real PyPI `mesoshttp` scheduler library.

Usage: python mesoshttp_compat.py <master-url> <timeout-seconds>

Subscribes a framework, accepts the first usable offer with two command
tasks (one that finishes, one that runs until killed), acknowledges every
update (mesoshttp does that itself), kills the long task once it is
RUNNING, and tears the framework down when both tasks are terminal.

Prints one JSON line per event on stdout (the Rust test asserts on them)
and exits 0 on success, 1 on failure or timeout.
"""

import json
import logging
import sys
import threading
import time

from mesoshttp.client import MesosClient

MASTER = sys.argv[1]
TIMEOUT = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

lock = threading.Lock()
state = {
    "driver": None,
    "launched": False,
    "killed": False,
    "states": {"compat-echo": [], "compat-sleep": []},
    "agent_id": None,
    "done": threading.Event(),
    "error": None,
}


def emit(kind, **fields):
    fields["event"] = kind
    print(json.dumps(fields), flush=True)


def scalar(offer, name):
    for r in offer.get("resources", []):
        if r.get("name") == name and r.get("type") == "SCALAR":
            return r["scalar"]["value"]
    return 0.0


def task(task_id, agent_id, command):
    return {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": command, "shell": True},
    }


def on_subscribed(driver):
    state["driver"] = driver
    emit("subscribed", framework_id=driver.frameworkId)


def on_offers(offers):
    with lock:
        for offer in offers:
            o = offer.get_offer()
            emit("offer", offer_id=o["id"]["value"], agent_id=o["agent_id"]["value"])
            if not state["launched"] and scalar(o, "cpus") >= 0.2 and scalar(o, "mem") >= 64:
                agent = o["agent_id"]["value"]
                state["agent_id"] = agent
                offer.accept(
                    [
                        task("compat-echo", agent, "echo hello from mesoshttp"),
                        task("compat-sleep", agent, "sleep 300"),
                    ]
                )
                state["launched"] = True
                emit("accepted", offer_id=o["id"]["value"])
            else:
                offer.decline({"filters": {"refuse_seconds": 60}})


def on_update(update):
    status = update["status"]
    task_id = status["task_id"]["value"]
    st = status["state"]
    emit("update", task_id=task_id, state=st, has_uuid="uuid" in status)
    with lock:
        if task_id in state["states"]:
            state["states"][task_id].append(st)
        if task_id == "compat-sleep" and st == "TASK_RUNNING" and not state["killed"]:
            state["killed"] = True
            state["driver"].kill(state["agent_id"], "compat-sleep")
            emit("kill_sent", task_id=task_id)
        terminal = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"}
        if all(s and s[-1] in terminal for s in state["states"].values()):
            state["done"].set()


def on_error(message):
    state["error"] = message
    emit("error", message=message)
    state["done"].set()


client = MesosClient(mesos_urls=[MASTER], frameworkName="mesoshttp-compat", max_reconnect=1)
client.on(MesosClient.SUBSCRIBED, on_subscribed)
client.on(MesosClient.OFFERS, on_offers)
client.on(MesosClient.UPDATE, on_update)
client.on(MesosClient.ERROR, on_error)

thread = threading.Thread(target=client.register, daemon=True)
thread.start()

ok = state["done"].wait(TIMEOUT)
emit("finished", ok=ok, states=state["states"], error=state["error"])
driver = state["driver"]
if driver is not None:
    driver.tearDown()
client.disconnect_framework()
good = (
    ok
    and state["error"] is None
    and state["states"]["compat-echo"][-1:] == ["TASK_FINISHED"]
    and state["states"]["compat-sleep"][-1:] == ["TASK_KILLED"]
)
time.sleep(0.1)
sys.exit(0 if good else 1)
