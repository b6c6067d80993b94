/* shared_counter: the talk's race. Two tasks each raise a shared counter
 * five times; each step reads the counter, awaits (weft_sleep(0), where the
 * other task runs), then writes what it read plus one. Without a lock both
 * read the same value and updates are lost: the counter ends at 5, not 10.
 * With a weft_lock held from the read to the write it ends at exactly 10.
 * Tasks share one thread: the race is at the await, not in the CPU. */
#include <stdio.h>
#include <weft.h>

#define STEPS 5

typedef struct counter {
    int value;
    weft_lock *lock; /* NULL: no lock */
} counter;

static int raise_counter(void *arg)
{
    counter *c = arg;
    const char *me = weft_task_name(weft_task_current());
    for (int i = 0; i < STEPS; i++) {
        int rc;
        if (c->lock && (rc = weft_lock_acquire(c->lock)) != 0)
            return rc;
        int seen = c->value; /* read */
        rc = weft_sleep(0);  /* await: the other task runs here */
        c->value = seen + 1; /* write */
        printf("  %s: read %d, wrote %d\n", me, seen, c->value);
        if (c->lock)
            weft_lock_release(c->lock);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int race(counter *c)
{
    weft_task_opts a = {.name = "task A"}, b = {.name = "task B"};
    weft_task *tasks[2] = {NULL, NULL};
    int rc = weft_spawn_opts(raise_counter, c, &a, &tasks[0]);
    if (rc == 0)
        rc = weft_spawn_opts(raise_counter, c, &b, &tasks[1]);
    if (rc == 0)
        rc = weft_gather(tasks, 2, 0);
    else
        weft_cancel(tasks[0]); /* cancelled before it starts: it never runs */
    weft_task_free(tasks[0]);
    weft_task_free(tasks[1]);
    return rc;
}

static int run(void *arg)
{
    (void)arg;
    counter c = {0, NULL};
    printf("without a lock:\n");
    int rc = race(&c);
    if (rc != 0)
        return rc;
    printf("counter = %d (expected %d: %d updates lost)\n\n", c.value, 2 * STEPS,
           2 * STEPS - c.value);
    int unlocked = c.value;

    c.value = 0;
    if ((rc = weft_lock_new(&c.lock)) != 0)
        return rc;
    printf("with weft_lock held from read to write:\n");
    rc = race(&c);
    weft_lock_free(c.lock);
    if (rc != 0)
        return rc;
    printf("counter = %d (expected %d)\n", c.value, 2 * STEPS);
    return c.value == 2 * STEPS && unlocked < 2 * STEPS ? 0 : -1;
}

int main(void)
{
    int rc = weft_run(run, NULL);
    if (rc != 0) {
        fprintf(stderr, "shared_counter: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
