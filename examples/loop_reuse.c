/* One loop used twice, as the talk's get_event_loop() + run_until_complete():
 *
 *   loop = asyncio.get_event_loop()
 *   result = loop.run_until_complete(add(3, 4))
 *   result2 = loop.run_until_complete(add(5, 6))
 *
 * In weft the loop lives in a runner; each weft_runner_run() runs one
 * top-level task to its end on the same loop. */
#include <stdio.h>
#include <weft.h>

struct pair {
    int a, b;
};

static int add(void *arg)
{
    struct pair *p = arg;
    return p->a + p->b; /* the task's result */
}

int main(void)
{
    weft_runner *runner;
    int rc = weft_runner_new(&runner);
    if (rc != 0) {
        fprintf(stderr, "weft_runner_new: %s\n", weft_strerror(rc));
        return 1;
    }
    int result = weft_runner_run(runner, add, &(struct pair){3, 4});  /* run_until_complete */
    int result2 = weft_runner_run(runner, add, &(struct pair){5, 6}); /* the same loop */
    printf("loop %p: add(3, 4) = %d, add(5, 6) = %d\n", (void *)weft_runner_loop(runner), result,
           result2);
    weft_runner_free(runner);
    return result == 7 && result2 == 11 ? 0 : 1;
}
