/* asyncio.gather() of three adds, run concurrently:
 *
 *   async def multi_add(a, b, c):
 *       return await asyncio.gather(add(a, b), add(b, c), add(a, c))
 *   asyncio.run(multi_add(1, 3, 5))
 *
 * Each add returns its sum as its result; weft_gather returns 0 when every
 * task returned a result, and weft_task_result reads each one. */
#include <stdio.h>
#include <weft.h>

struct pair {
    int a, b;
};

static int add(void *arg)
{
    struct pair *p = arg;
    return p->a + p->b;
}

struct multi_add_args {
    int a, b, c;
    int sums[3];
};

static int multi_add(void *arg)
{
    struct multi_add_args *m = arg;
    struct pair pairs[3] = {{m->a, m->b}, {m->b, m->c}, {m->a, m->c}};
    weft_task *tasks[3];
    size_t n = 0;
    int rc = 0;
    while (n < 3 && (rc = weft_spawn(add, &pairs[n], &tasks[n])) == 0)
        n++;
    if (rc == 0)
        rc = weft_gather(tasks, n, 0); /* 0: no add failed */
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            m->sums[i] = weft_task_result(tasks[i]); /* gather's list of results */
        else
            weft_cancel(tasks[i]); /* cancelled before it starts: it never runs */
        weft_task_free(tasks[i]);
    }
    return rc;
}

int main(void)
{
    struct multi_add_args m = {.a = 1, .b = 3, .c = 5};
    int rc = weft_run(multi_add, &m);
    if (rc < 0) {
        fprintf(stderr, "multi_add: %s\n", weft_strerror(rc));
        return 1;
    }
    printf("add(1, 3) = %d, add(3, 5) = %d, add(1, 5) = %d\n", m.sums[0], m.sums[1], m.sums[2]);
    return m.sums[0] == 4 && m.sums[1] == 8 && m.sums[2] == 6 ? 0 : 1;
}
