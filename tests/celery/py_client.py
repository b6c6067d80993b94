"""The Python side of tests/test_celery.c: Celery 5.2's own client sends
tasks to the weft worker under test and checks what AsyncResult.get()
returns. Exits 0 when every check passed; prints the first failure."""
import datetime
import sys
import time

from celery import Celery

url = sys.argv[1]  # redis+socket:///tmp/.../redis.sock
mode = sys.argv[2] if len(sys.argv) > 2 else "interop"
app = Celery("weft_test_client", broker=url, backend=url)
TIMEOUT = 30


def check(cond, what):
    if not cond:
        print("FAILED:", what, flush=True)
        sys.exit(1)


def expect_failure(result, exc_name, text=None):
    try:
        value = result.get(timeout=TIMEOUT)
    except Exception as e:  # the exception the worker stored, rebuilt
        check(type(e).__name__ == exc_name, f"{exc_name} expected, got {type(e).__name__}: {e}")
        if text is not None:
            check(text in str(e), f"{text!r} not in {str(e)!r}")
        return e
    check(False, f"{exc_name} expected, got the value {value!r}")


def interop():
    # Every JSON type, unicode (BMP and astral), nesting.
    args = [None, True, False, 0, -1, 2**53, -(2**62), 1.5, -0.25, 1e300, "",
            "héllo ☃ 🎉 \u0000 \"q\" \\", [], {}, {"a": [1, {"b": None}], "ü": "ß"}]
    kwargs = {"k": "ü", "n": None, "l": [1, 2, [3]]}
    r = app.send_task("t.echo", args=args, kwargs=kwargs)
    got = r.get(timeout=TIMEOUT)
    check(got == [args, kwargs], f"echo returned {got!r}")
    check(r.state == "SUCCESS", f"state {r.state}")

    check(app.send_task("t.add", args=(2, 3)).get(timeout=TIMEOUT) == 5, "add(2, 3)")

    # Many at once, gathered (they run concurrently on the worker).
    rs = [app.send_task("t.add", args=(i, i)) for i in range(200)]
    check([r.get(timeout=TIMEOUT) for r in rs] == [2 * i for i in range(200)], "200 adds")

    # A large payload: 1.5 MB of UTF-8 each way.
    big = "xé" * (1 << 19)
    check(app.send_task("t.echo", args=(big,)).get(timeout=TIMEOUT) == [[big], {}], "1.5 MB echo")

    # Failures with an exception type Python knows, and one it does not.
    e = expect_failure(app.send_task("t.fail", args=("ValueError", "boom")), "ValueError", "boom")
    e = expect_failure(app.send_task("t.fail", args=("PartnerDown", "503")), "PartnerDown", "503")
    r = app.send_task("t.fail", args=("KeyError", "k"))
    expect_failure(r, "KeyError")
    check(r.state == "FAILURE", f"failure state {r.state}")
    check("weft" in (r.traceback or ""), f"traceback {r.traceback!r}")

    # Retries: counted as Celery counts them (the same id, retries + 1).
    check(app.send_task("t.retry", args=(2,)).get(timeout=TIMEOUT) == 2, "retried twice")
    expect_failure(app.send_task("t.retry", args=(10,)), "MaxRetriesExceededError")

    # ETA / countdown.
    t0 = time.time()
    check(app.send_task("t.add", args=(1, 1), countdown=1.5).get(timeout=TIMEOUT) == 2, "eta")
    check(time.time() - t0 >= 1.4, f"countdown ran after {time.time() - t0:.2f} s")

    # Expired before it ran: REVOKED.
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    r = app.send_task("t.add", args=(1, 1), expires=past)
    expect_failure(r, "TaskRevokedError", "expired")
    check(r.state == "REVOKED", f"expired state {r.state}")

    # Time limits: soft (the task sees a cancellation), hard (reported at once).
    expect_failure(app.send_task("t.sleep", args=(10,), soft_time_limit=0.3),
                   "SoftTimeLimitExceeded")
    t0 = time.time()
    expect_failure(app.send_task("t.stubborn", args=(3,), time_limit=0.5), "TimeLimitExceeded")
    check(time.time() - t0 < 2.5, f"hard limit reported after {time.time() - t0:.2f} s")

    # Priorities: kombu's priority lists are consumed too.
    check(app.send_task("t.add", args=(4, 4), priority=9).get(timeout=TIMEOUT) == 8, "priority 9")


def send_only():
    """Sends n tasks and prints their ids (the fault tests await them)."""
    n = int(sys.argv[3])
    task = sys.argv[4]
    for i in range(n):
        print(app.send_task(task, args=(i,)).id, flush=True)


def adds():
    """Sends n t.cores_add(i, i) at once, then checks every result (the
    workers on every loop of tests/test_celery_cores.c)."""
    n = int(sys.argv[3])
    rs = [app.send_task("t.cores_add", args=(i, i)) for i in range(n)]
    got = [r.get(timeout=TIMEOUT) for r in rs]
    check(got == [2 * i for i in range(n)], f"{n} adds returned {got!r}")


modes = {"interop": interop, "send": send_only, "adds": adds}
modes[mode]()
print("OK", flush=True)
