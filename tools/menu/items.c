/* items.c: the menu itself, in the talk's order: eight items (I/O-bound and
 * CPU-bound, each sequential, threads, processes, asyncio), a ninth, the
 * CPU-bound work handed to weft_to_thread, and the I/O-bound comparison over
 * real HTTP (sequential, threads, weft tasks). One entry per row. */
#include <stdio.h>
#include <string.h>

#include "menu.h"

const menu_item menu_items[] = {
    {.id = "io-sequential",
     .kind = "I/O",
     .variant = "sequential",
     .how = "1 worker",
     .run = menu_io_sequential,
     .python = 10.03,
     .est1 = 10,
     .est2 = 10,
     .total = menu_io_total,
     .why = "one worker, ten sleeps one after another"},
    {.id = "io-pthreads",
     .kind = "I/O",
     .variant = "threads",
     .how = "2 pthreads",
     .run = menu_io_pthreads,
     .python = 5.03,
     .est1 = 5,
     .est2 = 5,
     .total = menu_io_total,
     .why = "both threads sleep at once and share the counter: half the time"},
    {.id = "io-fork",
     .kind = "I/O",
     .variant = "processes",
     .how = "2 fork()s",
     .run = menu_io_fork,
     .python = 10.09,
     .est1 = 10,
     .est2 = 10,
     .total = menu_io_total2,
     .why = "each process counts its own copy of the counter to 10: twice the steps, no time "
            "saved"},
    {.id = "io-weft",
     .kind = "I/O",
     .variant = "weft tasks",
     .how = "2 tasks",
     .run = menu_io_weft,
     .python = 5.01,
     .est1 = 5,
     .est2 = 5,
     .total = menu_io_total,
     .why = "both tasks sleep at once on one thread; no wait between check and +1, so exactly "
            "10"},
    {.id = "cpu-sequential",
     .kind = "CPU",
     .variant = "sequential",
     .how = "2 jobs, 1 thread",
     .run = menu_cpu_sequential,
     .est1 = 2,
     .est2 = 2,
     .total = menu_cpu_total,
     .why = "two prime counts, one after the other"},
    {.id = "cpu-pthreads",
     .kind = "CPU",
     .variant = "threads",
     .how = "2 pthreads",
     .run = menu_cpu_pthreads,
     .est1 = 2,
     .est2 = 1,
     .total = menu_cpu_total,
     .why = "no GIL in C: two threads compute on two cores (Python's threads would not)",
     .why_1 = "one core here, so two threads take turns: no gain (Python's GIL would do the "
              "same)"},
    {.id = "cpu-fork",
     .kind = "CPU",
     .variant = "processes",
     .how = "2 fork()s",
     .run = menu_cpu_fork,
     .est1 = 2,
     .est2 = 1,
     .total = menu_cpu_total,
     .why = "two processes on two cores, each with its own job",
     .why_1 = "one core here: no gain"},
    {.id = "cpu-weft",
     .kind = "CPU",
     .variant = "weft tasks",
     .how = "2 tasks",
     .run = menu_cpu_weft,
     .est1 = 2,
     .est2 = 2,
     .total = menu_cpu_total,
     .why = "a job never waits, so it holds the loop's thread: async alone gains nothing"},
    {.id = "cpu-to-thread",
     .kind = "CPU",
     .variant = "weft_to_thread",
     .how = "2 tasks -> pool",
     .run = menu_cpu_to_thread,
     .est1 = 2,
     .est2 = 1,
     .total = menu_cpu_total,
     .why = "the tasks hand the jobs to pool threads: two cores, loop stays free",
     .why_1 = "one core here: the loop stays free, but the jobs still take turns"},
    {.id = "http-sequential",
     .kind = "HTTP",
     .variant = "sequential",
     .how = "10 requests",
     .run = menu_http_sequential,
     .est1 = 10,
     .est2 = 10,
     .total = menu_http_total,
     .why = "ten requests to the partner server, each answered after a 1 s delay, in a row"},
    {.id = "http-pthreads",
     .kind = "HTTP",
     .variant = "threads",
     .how = "2 pthreads",
     .run = menu_http_pthreads,
     .est1 = 5,
     .est2 = 5,
     .total = menu_http_total,
     .why = "two threads, a blocking libcurl handle each: two requests wait at once, half "
            "the time"},
    {.id = "http-weft",
     .kind = "HTTP",
     .variant = "weft tasks",
     .how = "10 tasks",
     .run = menu_http_weft,
     .est1 = 1,
     .est2 = 1,
     .total = menu_http_total,
     .why = "ten tasks on one thread share one session: all ten requests wait at once"},
};

const int menu_nitems = (int)(sizeof(menu_items) / sizeof(menu_items[0]));

/* Does name (len bytes) pick item id: the whole id, or its group before
 * the '-'? */
static bool names(const char *name, size_t len, const char *id)
{
    const char *dash = strchr(id, '-');
    size_t group = dash != NULL ? (size_t)(dash - id) : strlen(id);
    return (len == strlen(id) || len == group) && strncmp(name, id, len) == 0;
}

const char *menu_select(const char *list, bool *sel)
{
    static char bad[64];
    for (int i = 0; i < menu_nitems; i++)
        sel[i] = false;
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        bool any = false;
        for (int i = 0; i < menu_nitems; i++)
            if (len > 0 && names(p, len, menu_items[i].id))
                sel[i] = any = true;
        if (!any) {
            snprintf(bad, sizeof(bad), "%.*s", (int)(len < 60 ? len : 60), p);
            return bad;
        }
        p += len;
        if (*p == '\0')
            return NULL;
    }
}
