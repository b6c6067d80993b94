"""The Python side of bench/w8_celery.c: Celery 5.2's own worker for the
same tasks the weft worker runs, started by the bench as
`python3 -m celery -A w8_celery worker -P <pool> -c <n>` in this folder,
with the broker in WEFT_CELERY_URL."""
import os
import urllib.request

from celery import Celery

url = os.environ["WEFT_CELERY_URL"]
app = Celery("w8_celery", broker=url, backend=url)


@app.task(name="bench.add")
def add(a, b):
    return a + b


@app.task(name="bench.partner")
def partner(target):
    """Waits on the partner server (its answer comes after 100 ms)."""
    with urllib.request.urlopen(target, timeout=60) as r:
        return r.status
