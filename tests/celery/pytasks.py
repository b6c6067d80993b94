"""Celery's own Python worker for tests/test_celery_client.c (weft's client
-> a Python worker): run as `python3 -m celery -A pytasks worker` in this
folder, with the broker in WEFT_CELERY_URL."""
import os

from celery import Celery

url = os.environ["WEFT_CELERY_URL"]
app = Celery("pytasks", broker=url, backend=url)


@app.task(name="py.add")
def add(a, b):
    return a + b


@app.task(name="py.echo")
def echo(*args, **kwargs):
    return [list(args), kwargs]


@app.task(name="py.fail")
def fail(message):
    raise ValueError(message)


@app.task(name="py.retries", bind=True, max_retries=2)
def retries(self):
    if self.request.retries < 2:
        raise self.retry(countdown=0.1)
    return self.request.retries
