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

struct add_args {
    int a, b, sum;
};

static int add(void *arg)
{
    struct add_args *x = arg;
    x->sum = x->a + x->b;
    return 0;
}

int main(void)
{
    weft_runner *runner;
    int rc = weft_runner_new(&runner);
    if (rc != 0) {
        fprintf(stderr, "weft_runner_new: %s\n", weft_strerror(rc));
        return 1;
    }
    struct add_args first = {3, 4, 0}, second = {5, 6, 0};
    int rc1 = weft_runner_run(runner, add, &first);
    int rc2 = weft_runner_run(runner, add, &second);
    printf("loop %p: add(3, 4) = %d, add(5, 6) = %d\n", (void *)weft_runner_loop(runner), first.sum,
           second.sum);
    weft_runner_free(runner);
    return rc1 == 0 && rc2 == 0 && first.sum == 7 && second.sum == 11 ? 0 : 1;
}
