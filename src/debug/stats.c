/* stats: weft_loop_stats, the counters of one loop. The loop counts
 * switches and turns as it goes; the rest is read off its lists here, so
 * that nothing on the hot paths pays for statistics nobody asks for. */
#include <errno.h>
#include <string.h>

#include "debug/debug.h"

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
    switch (task->wait ? task->wait->kind : WEFT__WAIT_OTHER) {
    case WEFT__WAIT_SLEEP:
        st->tasks_sleeping++;
        return;
    case WEFT__WAIT_TASK:
        st->tasks_awaiting++;
        return;
    case WEFT__WAIT_IO:
        st->tasks_io++;
        return;
    case WEFT__WAIT_OTHER:
        break;
    }
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
