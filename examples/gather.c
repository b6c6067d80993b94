/* asyncio.gather() of three adds, run concurrently:
 *
 *   async def multi_add(a, b, c):
 *       await asyncio.gather(add(a, b), add(b, c), add(a, c))
 *   asyncio.run(multi_add(1, 3, 5))
 */
#include <errno.h>
#include <stdio.h>
#include <weft.h>

struct add_args {
    int a, b, sum;
};

static int add(void *arg)
{
    struct add_args *x = arg;
    x->sum = x->a + x->b;
    return 0;
}

struct multi_add_args {
    int a, b, c;
    struct add_args parts[3];
};

static int multi_add(void *arg)
{
    struct multi_add_args *m = arg;
    m->parts[0] = (struct add_args){m->a, m->b, 0};
    m->parts[1] = (struct add_args){m->b, m->c, 0};
    m->parts[2] = (struct add_args){m->a, m->c, 0};
    weft_task *tasks[3];
    size_t n = 0;
    int rc = 0;
    for (; n < 3 && rc == 0; n++)
        if ((rc = weft_spawn(add, &m->parts[n], &tasks[n])) != 0)
            break;
    if (rc == 0)
        rc = weft_gather(tasks, n, 0);
    for (size_t i = 0; i < n; i++) {
        if (rc != 0)
            weft_cancel(tasks[i]); /* cancelled before it starts: it never runs */
        weft_task_free(tasks[i]);
    }
    return rc;
}

int main(void)
{
    struct multi_add_args m = {.a = 1, .b = 3, .c = 5};
    int rc = weft_run(multi_add, &m);
    if (rc != 0) {
        fprintf(stderr, "multi_add: %s\n", weft_strerror(rc));
        return 1;
    }
    printf("add(1, 3) = %d, add(3, 5) = %d, add(1, 5) = %d\n", m.parts[0].sum, m.parts[1].sum,
           m.parts[2].sum);
    return 0;
}
