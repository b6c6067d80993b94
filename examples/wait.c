/* asyncio.wait() over ten tasks, with FIRST_COMPLETED then FIRST_EXCEPTION:
 *
 *   tasks = [asyncio.create_task(long_running_task(i)) for i in range(10)]
 *   done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
 *   done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
 *
 * weft_wait returns how many tasks are done; weft_task_done() tells which. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

#define N 10

static double scale = 1.0;

/* Task i works for (i + 1) * 0.1 s; task 6 fails. */
static int long_running_task(void *arg)
{
    int i = (int)(intptr_t)arg;
    int rc = weft_sleep((i + 1) * 0.1 * scale);
    if (rc != 0)
        return rc;
    return i == 6 ? -EIO : 0;
}

static void show(const char *what, weft_task **tasks, int done)
{
    printf("%-16s done=%d pending=%d:", what, done, N - done);
    for (int i = 0; i < N; i++)
        if (weft_task_done(tasks[i]))
            printf(" %s(%s)", weft_task_name(tasks[i]), weft_err_name(weft_task_result(tasks[i])));
    printf("\n");
}

static int main_task(void *arg)
{
    (void)arg;
    weft_task *tasks[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "task%d", i);
        weft_task_opts opts = {.name = name};
        int rc = weft_spawn_opts(long_running_task, (void *)(intptr_t)i, &opts, &tasks[i]);
        if (rc != 0) {
            while (i-- > 0) {
                weft_cancel(tasks[i]); /* cancelled before it starts: it never runs */
                weft_task_free(tasks[i]);
            }
            return rc;
        }
    }
    int done = weft_wait(tasks, N, WEFT_FIRST_COMPLETED, WEFT_FOREVER);
    show("FIRST_COMPLETED", tasks, done);
    done = weft_wait(tasks, N, WEFT_FIRST_EXCEPTION, WEFT_FOREVER);
    show("FIRST_EXCEPTION", tasks, done);
    for (int i = 0; i < N; i++) /* wait never cancels: we do, then collect */
        weft_cancel(tasks[i]);
    weft_gather(tasks, N, WEFT_RETURN_EXCEPTIONS);
    for (int i = 0; i < N; i++)
        weft_task_free(tasks[i]);
    return done >= 0 ? 0 : done;
}

int main(void)
{
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    scale = s ? atof(s) : 1.0;
    int rc = weft_run(main_task, NULL);
    if (rc != 0)
        fprintf(stderr, "main: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}
