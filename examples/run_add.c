/* asyncio.run(add(1, 2)) — the talk's first glossary entry.
 *
 *   async def add(a, b):
 *       return a + b
 *   asyncio.run(add(1, 2))
 *
 * A weft task function returns 0 or a negative error code; its result goes
 * out through its argument. */
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
    struct add_args x = {1, 2, 0};
    int rc = weft_run(add, &x);
    if (rc != 0) {
        fprintf(stderr, "weft_run: %s\n", weft_strerror(rc));
        return 1;
    }
    printf("add(1, 2) = %d\n", x.sum);
    return x.sum == 3 ? 0 : 1;
}
