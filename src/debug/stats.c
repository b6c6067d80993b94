/* stats: weft_loop_stats, the counters of one loop. The loop counts
 * switches and turns as it goes; the rest is read off its lists here, so
 * that nothing on the hot paths pays for statistics nobody asks for. */
#include <errno.h>
#include <string.h>

#include "debug/debug.h"

/* What a parked task waits on, from its wait's `what`: the core's own
 * names, and the words the I/O layers use for theirs. */
static bool is_sleep(const char *what)
{
    return strncmp(what, "sleep", 5) == 0;
}

static bool is_task_wait(const char *what)
{
    static const char *const names[] = {"task", "gather", "wait", "as_completed", "task group"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(what, names[i]) == 0)
            return true;
    return false;
}

static bool is_io(const char *what)
{
    static const char *const words[] = {"read", "write",   "connect", "accept",   "recv",
                                        "send", "poll",    "dns",     "resolve",  "tls",
                                        "http", "socket",  "stream",  "udp",      "tcp",
                                        "pipe", "process", "io",      "shutdown", "getaddrinfo"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strstr(what, words[i]))
            return true;
    return false;
}

static void count_task(const weft_task *task, struct weft_loop_stats *st)
{
    switch (task->state) {
    case WEFT_TASK_CREATED:
        st->tasks_new++;
        return;
    case WEFT_TASK_READY:
        st->tasks_ready++;
        return;
    case WEFT_TASK_RUNNING:
        st->tasks_running++;
        return;
    default:
        break;
    }
    st->tasks_waiting++;
    const char *what = task->wait && task->wait->what ? task->wait->what : "";
    if (is_sleep(what))
        st->tasks_sleeping++;
    else if (is_task_wait(what))
        st->tasks_awaiting++;
    else if (is_io(what))
        st->tasks_io++;
    else
        st->tasks_other++;
}

int weft_loop_stats(weft_loop *loop, struct weft_loop_stats *out)
{
    if (out == NULL)
        return -EINVAL;
    if (loop == NULL && (loop = weft__loop_current()) == NULL)
        return WEFT_ENOTASK;
    if (!pthread_equal(loop->thread, pthread_self()))
        return WEFT_EFOREIGN;
    memset(out, 0, sizeof *out);
    for (weft__link *l = loop->tasks.next; l != &loop->tasks; l = l->next)
        count_task(WEFT_CONTAINER_OF(l, weft_task, all), out);
    out->tasks_alive = loop->task_count;
    out->tasks_spawned = loop->next_task_id - 1;
    out->switches = loop->switches;
    out->iterations = loop->iterations;
    out->blocked_reports = __atomic_load_n(&loop->dbg.blocked_reports, __ATOMIC_RELAXED);
    out->longest_block =
        (double)__atomic_load_n(&loop->dbg.longest_block_ns, __ATOMIC_RELAXED) / 1e9;
    out->block_threshold = weft__block_threshold_of(loop);
    out->stacks_live = loop->stacks.live;
    out->stacks_pooled = loop->stacks.count;
    out->timers = weft__timers_count(loop);
    out->debug = loop->dbg.debug;
    out->compact_saved = loop->compact.saved_count;
    out->compact_saved_bytes = loop->compact.saved_bytes;
    out->compact_evictions = loop->compact.evictions;
    out->compact_slab_in_use = loop->compact.slab.in_use;
    out->compact_slab_mapped = loop->compact.slab.mapped;
    return 0;
}
