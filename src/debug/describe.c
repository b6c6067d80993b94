/* describe: how every report names things — a code address as
 * "symbol+offset (module)", a task as its id, name, function and spawn
 * site, the stack a task has touched, and the frames of weft's own task
 * entry that backtraces leave out. Shared by the dumps, debug mode's
 * reports and the watchdog, and built on nothing of theirs. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "debug/debug.h"

void weft__symbolize(const void *pc, char *buf, size_t len)
{
    Dl_info info;
    if (dladdr(pc, &info) == 0 || info.dli_fname == NULL) {
        snprintf(buf, len, "%p", pc);
        return;
    }
    const char *module = strrchr(info.dli_fname, '/');
    module = module ? module + 1 : info.dli_fname;
    if (info.dli_sname)
        snprintf(buf, len, "%s+0x%tx (%s)", info.dli_sname,
                 (const char *)pc - (const char *)info.dli_saddr, module);
    else /* a static function: addr2line -e <module> <offset> names it */
        snprintf(buf, len, "%s+0x%tx", module, (const char *)pc - (const char *)info.dli_fbase);
}

void weft__task_describe(const weft_task *task, bool detail, char *buf, size_t len)
{
    int n = snprintf(buf, len, "#%" PRIu64 " \"%s\"", task->id, weft_task_name(task));
    if (!detail || n < 0 || (size_t)n >= len)
        return;
    char fn[160];
    Dl_info info;
    if (dladdr((const void *)task->fn, &info) && info.dli_sname)
        snprintf(fn, sizeof fn, "%s", info.dli_sname);
    else
        weft__symbolize((const void *)task->fn, fn, sizeof fn);
    if (task->site_file)
        snprintf(buf + n, len - (size_t)n, " (%s, spawned at %s:%d)", fn, task->site_file,
                 task->site_line);
    else
        snprintf(buf + n, len - (size_t)n, " (%s)", fn);
}

/* The deepest page of the stack that is resident: a task's stack is fresh
 * (or emptied, weft__debug_stack_taken) when it starts, so resident pages
 * are the ones it touched. */
size_t weft__stack_used(const weft_task *task)
{
    if (task->stack.lo == NULL)
        return 0;
    size_t page = weft__page_size();
    size_t pages = task->stack.size / page, used = 0;
    unsigned char small[256];
    unsigned char *vec = pages <= sizeof small ? small : malloc(pages);
    if (vec == NULL || mincore(task->stack.lo, task->stack.size, vec) != 0)
        pages = 0;
    for (size_t i = 0; i < pages; i++)
        if (vec[i] & 1) {
            used = task->stack.size - i * page;
            break;
        }
    if (vec != small)
        free(vec);
    return used;
}

/* Is this the frame of weft's task entry (an unnamed frame in weft's own
 * module, below every task function)? */
bool weft__frame_is_entry(void *pc)
{
    Dl_info mine, info;
    if (!dladdr((void *)weft__frame_is_entry, &mine) || !dladdr((char *)pc - 1, &info))
        return false;
    return info.dli_sname == NULL && info.dli_fbase == mine.dli_fbase;
}
