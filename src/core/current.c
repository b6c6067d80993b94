/* current: what this thread knows about weft — the loop running on it
 * (initial-exec TLS, read by every wait), and the fork generation that
 * tells objects they were inherited by a child of fork(). Everything in
 * the library reads these; they live apart from the scheduler so that
 * reading them does not tie a file to loop.c. */
#include <pthread.h>

#include "core/core.h"

__thread weft_loop *weft__tl_loop __attribute__((tls_model("initial-exec")));

weft_loop *weft_loop_current(void)
{
    return weft__loop_expose(weft__tl_loop);
}

weft_task *weft_task_current(void)
{
    return weft__task_current();
}

int weft__check_loop(const weft_loop *obj_loop)
{
    if (WEFT_UNLIKELY(obj_loop != weft__tl_loop))
        return weft__tl_loop == NULL && obj_loop != NULL &&
                       pthread_equal(obj_loop->thread, pthread_self())
                   ? WEFT_ENOTASK
                   : WEFT_EFOREIGN;
    return 0;
}

unsigned weft__fork_generation;

static void forked_child(void)
{
    __atomic_add_fetch(&weft__fork_generation, 1, __ATOMIC_RELAXED);
}

/* At load time, so that objects made before any loop (executors) see forks
 * too. */
__attribute__((constructor)) static void install_fork_hook(void)
{
    pthread_atfork(NULL, NULL, forked_child);
}
