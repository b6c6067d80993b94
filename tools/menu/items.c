/* items.c: the menu itself, in the talk's order: eight items (I/O-bound and
 * CPU-bound, each sequential, threads, processes, asyncio) and a ninth, the
 * CPU-bound work handed to weft_to_thread. One entry per row. */
#include "menu.h"

const menu_item menu_items[] = {
    {"io-sequential", "I/O", "sequential", "1 worker", menu_io_sequential, 10.03, menu_io_total,
     "one worker, ten sleeps one after another", NULL},
    {"io-pthreads", "I/O", "threads", "2 pthreads", menu_io_pthreads, 5.03, menu_io_total,
     "both threads sleep at once and share the counter: half the time", NULL},
    {"io-fork", "I/O", "processes", "2 fork()s", menu_io_fork, 10.09, menu_io_total2,
     "each process counts its own copy of the counter to 10: twice the steps, no time saved", NULL},
    {"io-weft", "I/O", "weft tasks", "2 tasks", menu_io_weft, 5.01, menu_io_total,
     "both tasks sleep at once on one thread; no wait between check and +1, so exactly 10", NULL},
    {"cpu-sequential", "CPU", "sequential", "2 jobs, 1 thread", menu_cpu_sequential, 0,
     menu_cpu_total, "two prime counts, one after the other", NULL},
    {"cpu-pthreads", "CPU", "threads", "2 pthreads", menu_cpu_pthreads, 0, menu_cpu_total,
     "no GIL in C: two threads compute on two cores (Python's threads would not)",
     "one core here, so two threads take turns: no gain (Python's GIL would do the same)"},
    {"cpu-fork", "CPU", "processes", "2 fork()s", menu_cpu_fork, 0, menu_cpu_total,
     "two processes on two cores, each with its own job", "one core here: no gain"},
    {"cpu-weft", "CPU", "weft tasks", "2 tasks", menu_cpu_weft, 0, menu_cpu_total,
     "a job never waits, so it holds the loop's thread: async alone gains nothing", NULL},
    {"cpu-to-thread", "CPU", "weft_to_thread", "2 tasks -> pool", menu_cpu_to_thread, 0,
     menu_cpu_total, "the tasks hand the jobs to pool threads: two cores, loop stays free",
     "one core here: the loop stays free, but the jobs still take turns"},
    /* Issue 7 adds the tenth row here, e.g.
     * {"http-weft", "HTTP", "weft tasks", "20 requests", menu_http_weft, 0, menu_http_total,
     *  "...", NULL}, */
};

const int menu_nitems = (int)(sizeof(menu_items) / sizeof(menu_items[0]));
