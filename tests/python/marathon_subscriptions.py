"""Event subscriptions through the real PyPI `marathon` client (0.13.0).

Usage: marathon_subscriptions.py <marathon url> subscribe|unsubscribe <callback url>

Subscribes (or unsubscribes) the callback URL, then lists the
subscriptions; prints one JSON line: {"answer": <the client's answer>,
"listed": [<callback urls>]}.
"""

import collections
import collections.abc
import json
import sys

# marathon 0.13.0 still uses `collections.Iterable`, gone since Python 3.10.
collections.Iterable = collections.abc.Iterable  # type: ignore[attr-defined]

from marathon import MarathonClient  # noqa: E402

url, action, callback = sys.argv[1], sys.argv[2], sys.argv[3]
c = MarathonClient([url], timeout=15)
if action == "subscribe":
    answer = c.create_event_subscription(callback)
elif action == "unsubscribe":
    answer = c.delete_event_subscription(callback)
else:
    raise SystemExit(f"unknown action {action}")
print(json.dumps({"answer": answer, "listed": c.list_event_subscriptions()}), flush=True)
