/* asyncio.Runner():
 *
 *   async def main():
 *       await asyncio.sleep(1)
 *       print('hello')
 *   with asyncio.Runner() as runner:
 *       print(runner.get_loop())
 *       runner.run(main())
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

static double scale(void)
{
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    return s ? atof(s) : 1.0;
}

static int hello_after_sleep(void *arg)
{
    (void)arg;
    int rc = weft_sleep(1.0 * scale());
    if (rc != 0)
        return rc;
    printf("hello\n");
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
    printf("loop: %p\n", (void *)weft_runner_loop(runner));
    rc = weft_runner_run(runner, hello_after_sleep, NULL);
    weft_runner_free(runner);
    if (rc != 0)
        fprintf(stderr, "main: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}
