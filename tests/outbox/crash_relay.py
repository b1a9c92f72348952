"""Run as a separate process by test_relay.py: claim a batch, then die in the handler
(``os._exit``) before the results are recorded, as a relay killed mid-batch does.

argv: JSON of the ``DATABASES["default"]`` entry, claim_timeout_s, batch_size."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import dorm  # noqa: E402

dorm.configure(DATABASES={"default": json.loads(sys.argv[1])})

from dorm.contrib.outbox import OutboxRelay  # noqa: E402

from tests.outbox.models import Event  # noqa: E402


def handler(event):
    print(event.pk, flush=True)
    os._exit(17)


OutboxRelay(Event, claim_timeout_s=float(sys.argv[2]), batch_size=int(sys.argv[3])).drain_once(handler)
sys.exit("the handler was never called")
