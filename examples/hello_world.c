/* asyncio.sleep(): unlike sleep(3), it parks only this task.
 *
 *   async def main():
 *       print('hello')
 *       await asyncio.sleep(1)
 *       print('world')
 */
#include <stdio.h>
#include <stdlib.h>
#include <weft.h>

static int main_task(void *arg)
{
    (void)arg;
    const char *s = getenv("WEFT_EXAMPLE_SCALE");
    double scale = s ? atof(s) : 1.0;
    printf("hello\n");
    fflush(stdout);
    int rc = weft_sleep(1.0 * scale); /* other tasks would run meanwhile */
    if (rc != 0)
        return rc;
    printf("world\n");
    return 0;
}

int main(void)
{
    int rc = weft_run(main_task, NULL);
    return rc == 0 ? 0 : 1;
}
