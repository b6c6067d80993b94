/* asyncio.run(add(1, 2)) — the talk's first glossary entry.
 *
 *   async def add(a, b):
 *       return a + b
 *   asyncio.run(add(1, 2))
 *
 * A weft task function returns its result, a non-negative int, or a
 * negative error code; weft_run returns what the task returned. */
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

int main(void)
{
    int sum = weft_run(add, &(struct pair){1, 2}); /* asyncio.run(add(1, 2)) */
    if (sum < 0) {
        fprintf(stderr, "weft_run: %s\n", weft_strerror(sum));
        return 1;
    }
    printf("add(1, 2) = %d\n", sum);
    return sum == 3 ? 0 : 1;
}
