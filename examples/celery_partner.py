"""The Python side of examples/celery_partner.c: an ordinary Celery app
that hands its partner calls to a weft worker by name, with send_task."""
import sys

from celery import Celery
from celery.result import ResultSet

broker = sys.argv[1] if len(sys.argv) > 1 else "redis://localhost:6379/0"
app = Celery("partner_app", broker=broker, backend=broker)

# Twenty calls at once; the weft worker runs them concurrently.
results = ResultSet([app.send_task("partner.fetch", args=["/ping"]) for _ in range(20)])
for i, value in enumerate(results.get(timeout=60)):
    print(f"task {i}: {value}")

r = app.send_task("partner.fetch", args=["/ping?status=503"])
try:
    r.get(timeout=60)
    sys.exit("a partner answering 503 three times should fail the task")
except Exception as e:
    print(f"failed as expected: {type(e).__name__}: {e}")
