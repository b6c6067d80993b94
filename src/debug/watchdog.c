/* watchdog: blocked-loop reports. One thread per process, started with the
 * first loop, samples each loop's switch counter every quarter threshold.
 * A task that holds its loop past the threshold (a counter that has not
 * moved while a task runs) is reported once per episode, with a backtrace
 * taken while it is still blocked: a signal sent to the loop's thread
 * makes its handler copy the frames (async-signal-safe work only), and
 * this thread formats them and logs the report. The loop itself pays
 * nothing it did not pay before: it already counted switches. */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "debug/debug.h"

#define DEFAULT_THRESHOLD_NS 100000000ull /* 100 ms */
#define MIN_INTERVAL_NS      1000000ull   /* 1 ms */
#define MAX_INTERVAL_NS      250000000ull /* 250 ms */
#define CAPTURE_WAIT_NS      200000000ull /* how long to wait for the handler */

/* The handshake with the handler: the watchdog requests, the handler
 * claims the request (so that a late signal never writes while the
 * watchdog reads), then says captured or gone. */
enum { SAMPLE_IDLE, SAMPLE_REQUESTED, SAMPLE_CAPTURING, SAMPLE_CAPTURED, SAMPLE_GONE };

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static weft__link wd_loops = {&wd_loops, &wd_loops};
static bool wd_started;
static bool wd_handler_installed; /* survives fork: the child inherits the handler */
static int wd_signal = SIGURG;
static uint64_t wd_default_ns = DEFAULT_THRESHOLD_NS;
static struct sigaction wd_old_action;

/* ---------------------------------------------------------- the handler */

static void copy_name(char *dst, size_t len, const weft_task *t)
{
    const char *src = t->name;
    if (src == NULL) { /* "Task-<id>" without snprintf */
        char digits[24];
        int n = 0;
        uint64_t id = t->id;
        do
            digits[n++] = (char)('0' + id % 10);
        while ((id /= 10) && n < 20);
        size_t k = 0;
        for (const char *p = "Task-"; *p && k + 1 < len; p++)
            dst[k++] = *p;
        while (n > 0 && k + 1 < len)
            dst[k++] = digits[--n];
        dst[k] = 0;
        return;
    }
    size_t k = 0;
    while (src[k] && k + 1 < len) {
        dst[k] = src[k];
        k++;
    }
    dst[k] = 0;
}

static void chain_old(int sig, siginfo_t *si, void *uc)
{
    if (wd_old_action.sa_flags & SA_SIGINFO) {
        if (wd_old_action.sa_sigaction)
            wd_old_action.sa_sigaction(sig, si, uc);
    } else if (wd_old_action.sa_handler != SIG_DFL && wd_old_action.sa_handler != SIG_IGN) {
        wd_old_action.sa_handler(sig);
    }
}

/* Runs on the blocked loop's thread, on top of the blocked task. */
static void sample_handler(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    weft_loop *loop = weft__loop_current();
    weft__loop_debug *d = loop ? &loop->dbg : NULL;
    int expected = SAMPLE_REQUESTED;
    if (d && __atomic_compare_exchange_n(&d->sample_state, &expected, SAMPLE_CAPTURING, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        weft_task *t = loop->current;
        /* A task switching back to the scheduler has not bumped the switch
         * count yet; it is no longer blocked, and no unwinder can walk a
         * stack caught in the middle of the switch. */
        if (t && __atomic_load_n(&loop->switches, __ATOMIC_RELAXED) == d->sample_switches &&
            !weft__ctx_pc_in_switch(weft__ctx_signal_pc(uc))) {
            /* Counted here, before the task can go on: weft_loop_stats
             * read right after the episode includes it. */
            __atomic_add_fetch(&d->blocked_reports, 1, __ATOMIC_RELAXED);
            d->bt_pc = weft__ctx_signal_pc(uc);
            d->bt_n = backtrace(d->bt, WEFT__BT_MAX);
            d->bt_task_id = t->id;
            copy_name(d->bt_task_name, sizeof d->bt_task_name, t);
            d->bt_file = t->site_file;
            d->bt_line = t->site_line;
            __atomic_store_n(&d->sample_state, SAMPLE_CAPTURED, __ATOMIC_RELEASE);
        } else { /* it yielded in the meantime: the episode is over */
            __atomic_store_n(&d->sample_state, SAMPLE_GONE, __ATOMIC_RELEASE);
        }
    } else {
        chain_old(sig, si, uc);
    }
    errno = saved_errno;
}

/* ------------------------------------------------------------ reports */

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = weft__timespec_of(ns);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* backtrace() starts in the handler, then the kernel's signal trampoline,
 * then the interrupted code: start at the interrupted instruction. */
static int first_user_frame(void **bt, int n, void *pc)
{
    for (int i = 0; i < n && i < 8; i++)
        if (bt[i] == pc || (char *)bt[i] == (char *)pc + 1)
            return i;
    return n > 2 ? 2 : 0;
}

static void report(weft_loop *loop, uint64_t held_ns, uint64_t threshold_ns, bool captured)
{
    weft__loop_debug *d = &loop->dbg;
    size_t cap = 1024 + WEFT__BT_MAX * 200;
    char *msg = malloc(cap);
    if (msg == NULL)
        return;
    size_t len = 0;
#define APPEND(...)                                                                                \
    do {                                                                                           \
        int n_ = snprintf(msg + len, cap - len, __VA_ARGS__);                                      \
        if (n_ > 0)                                                                                \
            len += (size_t)n_ < cap - len ? (size_t)n_ : cap - len - 1;                            \
    } while (0)
    if (captured) {
        APPEND("task #%" PRIu64 " \"%s\"", d->bt_task_id, d->bt_task_name);
        if (d->bt_file)
            APPEND(" (spawned at %s:%d)", d->bt_file, d->bt_line);
    } else {
        APPEND("a task");
    }
    APPEND(" has held the loop for %.0f ms without yielding (threshold %.0f ms): every "
           "other task on this loop is stalled. A blocking call inside a task? Use "
           "weft_sleep() or a weft wait, or move the work to a thread.",
           (double)held_ns / 1e6, (double)threshold_ns / 1e6);
    if (captured) {
        APPEND("\n  it is at:");
        int first = first_user_frame(d->bt, d->bt_n, d->bt_pc);
        int n = d->bt_n;
        while (n - 1 > first && weft__frame_is_entry(d->bt[n - 1]))
            n--; /* the task's entry and the context's boot, below the task function */
        for (int i = first; i < n; i++) {
            char sym[256];
            weft__symbolize(i == first ? d->bt[i] : (char *)d->bt[i] - 1, sym, sizeof sym);
            APPEND("\n    #%-2d %s", i - first, sym);
        }
    }
#undef APPEND
    weft__log_msg(WEFT_LOG_WARN, "blocked", msg);
    free(msg);
}

/* Asks the loop's thread for its frames and waits (briefly) for them.
 * Returns SAMPLE_CAPTURED, SAMPLE_GONE, or SAMPLE_IDLE when no answer came
 * (the signal is blocked on that thread, say). */
static int capture(weft_loop *loop, uint64_t switches)
{
    weft__loop_debug *d = &loop->dbg;
    d->sample_switches = switches;
    __atomic_store_n(&d->sample_state, SAMPLE_REQUESTED, __ATOMIC_RELEASE);
    if (pthread_kill(loop->thread, wd_signal) == 0) {
        for (uint64_t waited = 0; waited < CAPTURE_WAIT_NS; waited += 1000000) {
            int state = __atomic_load_n(&d->sample_state, __ATOMIC_ACQUIRE);
            if (state == SAMPLE_CAPTURED || state == SAMPLE_GONE)
                return state;
            sleep_ns(1000000);
        }
    }
    int expected = SAMPLE_REQUESTED; /* withdraw the request, unless just claimed */
    if (__atomic_compare_exchange_n(&d->sample_state, &expected, SAMPLE_IDLE, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return SAMPLE_IDLE;
    int state;
    while ((state = __atomic_load_n(&d->sample_state, __ATOMIC_ACQUIRE)) == SAMPLE_CAPTURING)
        sleep_ns(100000);
    return state;
}

static uint64_t threshold_of(const weft_loop *loop)
{
    uint64_t t = __atomic_load_n(&loop->dbg.threshold_ns, __ATOMIC_RELAXED);
    return t == UINT64_MAX ? __atomic_load_n(&wd_default_ns, __ATOMIC_RELAXED) : t;
}

double weft__block_threshold_of(const weft_loop *loop)
{
    return (double)threshold_of(loop) / 1e9;
}

/* One look at one loop; the watchdog's lock is held. The reads race with
 * the loop's thread by design: a torn view only delays a report by one
 * sample, and the handler checks the counter again before it reports. */
__attribute__((no_sanitize("thread"))) static void check_loop(weft_loop *loop, uint64_t now)
{
    weft__loop_debug *d = &loop->dbg;
    uint64_t threshold = threshold_of(loop);
    if (threshold == 0 || weft__loop_forked(loop))
        return;
    uint64_t sw = __atomic_load_n(&loop->switches, __ATOMIC_RELAXED);
    uint64_t it = __atomic_load_n(&loop->iterations, __ATOMIC_RELAXED);
    void *cur = __atomic_load_n(&loop->current, __ATOMIC_RELAXED);
    bool running = __atomic_load_n(&loop->running, __ATOMIC_RELAXED);
    if (!running || cur == NULL || sw != d->wd_switches || it != d->wd_iterations ||
        cur != d->wd_task) {
        d->wd_switches = sw; /* a new state: a task may start holding the loop now */
        d->wd_iterations = it;
        d->wd_task = running ? cur : NULL;
        d->wd_since_ns = now;
        d->wd_reported = false;
        return;
    }
    uint64_t held = now - d->wd_since_ns; /* at least this long */
    if (d->wd_reported) {
        if (held > __atomic_load_n(&d->longest_block_ns, __ATOMIC_RELAXED))
            __atomic_store_n(&d->longest_block_ns, held, __ATOMIC_RELAXED);
        return;
    }
    if (held < threshold)
        return;
    d->wd_reported = true;
    if (held > __atomic_load_n(&d->longest_block_ns, __ATOMIC_RELAXED))
        __atomic_store_n(&d->longest_block_ns, held, __ATOMIC_RELAXED);
    int state = capture(loop, sw);
    if (state == SAMPLE_IDLE) /* no backtrace, but the report still stands */
        __atomic_add_fetch(&d->blocked_reports, 1, __ATOMIC_RELAXED);
    if (state != SAMPLE_GONE)
        report(loop, held, threshold, state == SAMPLE_CAPTURED);
    __atomic_store_n(&d->sample_state, SAMPLE_IDLE, __ATOMIC_RELEASE);
}

static uint64_t interval_locked(void)
{
    uint64_t best = UINT64_MAX;
    for (weft__link *l = wd_loops.next; l != &wd_loops; l = l->next) {
        uint64_t t = threshold_of(WEFT_CONTAINER_OF(l, weft_loop, dbg.registry));
        if (t != 0 && t / 4 < best)
            best = t / 4;
    }
    if (best == UINT64_MAX)
        return MAX_INTERVAL_NS * 4; /* nothing to watch: look again now and then */
    return best < MIN_INTERVAL_NS   ? MIN_INTERVAL_NS
           : best > MAX_INTERVAL_NS ? MAX_INTERVAL_NS
                                    : best;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_lock);
    for (;;) {
        uint64_t deadline = weft__now_ns() + interval_locked();
        struct timespec ts = weft__timespec_of(deadline);
        pthread_cond_timedwait(&wd_cond, &wd_lock, &ts);
        uint64_t now = weft__now_ns();
        for (weft__link *l = wd_loops.next; l != &wd_loops; l = l->next)
            check_loop(WEFT_CONTAINER_OF(l, weft_loop, dbg.registry), now);
    }
    return NULL;
}

/* ----------------------------------------------------------- life cycle */

static void forked_child(void)
{
    /* The thread did not follow us: the next loop starts another. */
    pthread_mutex_init(&wd_lock, NULL);
    wd_started = false;
}

static void read_env_threshold(void)
{
    const char *v = getenv("WEFT_BLOCK_THRESHOLD_MS");
    if (v && *v) {
        char *end;
        double ms = strtod(v, &end);
        if (*end == 0 && ms >= 0 && isfinite(ms)) /* huge: never report, as below */
            wd_default_ns = ms >= WEFT__FOREVER_SECONDS * 1e3 ? 0 : (uint64_t)(ms * 1e6);
    }
}

static bool install_handler_locked(void)
{
    if (wd_handler_installed)
        return true;
    void *warm[2];
    backtrace(warm, 2); /* loads libgcc's unwinder now, not in the handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = sample_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(wd_signal, &sa, &wd_old_action) != 0)
        return false;
    wd_handler_installed = true;
    return true;
}

static void start_locked(void)
{
    static bool once;
    if (!once) {
        once = true;
        pthread_atfork(NULL, NULL, forked_child);
        read_env_threshold();
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wd_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!install_handler_locked())
        return;
    /* The watchdog takes no process signal meant for the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t thread;
    if (pthread_create(&thread, &attr, watchdog_main, NULL) == 0)
        wd_started = true;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void weft__watchdog_register(weft_loop *loop)
{
    pthread_mutex_lock(&wd_lock);
    if (!wd_started)
        start_locked();
    weft__list_push_back(&wd_loops, &loop->dbg.registry);
    loop->dbg.registered = true;
    if (wd_started) /* it may be in a long wait, with nothing to watch */
        pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
}

void weft__watchdog_unregister(weft_loop *loop)
{
    if (!loop->dbg.registered)
        return;
    pthread_mutex_lock(&wd_lock);
    weft__list_remove(&loop->dbg.registry);
    loop->dbg.registered = false;
    pthread_mutex_unlock(&wd_lock);
}

int weft_set_block_threshold(weft_loop *loop, double seconds)
{
    if (!(seconds >= 0)) /* negative or NaN */
        return -EINVAL;
    /* Forever (or so long that the ns would overflow): never report; a
     * tiny positive value is 1 ns, not "off". */
    uint64_t ns = 0;
    if (seconds < WEFT__FOREVER_SECONDS) {
        ns = (uint64_t)(seconds * 1e9);
        if (seconds > 0 && ns == 0)
            ns = 1;
    }
    pthread_mutex_lock(&wd_lock);
    if (loop)
        __atomic_store_n(&loop->dbg.threshold_ns, ns, __ATOMIC_RELAXED);
    else
        __atomic_store_n(&wd_default_ns, ns, __ATOMIC_RELAXED);
    if (wd_started)
        pthread_cond_signal(&wd_cond); /* the interval may have changed */
    pthread_mutex_unlock(&wd_lock);
    return 0;
}

int weft_set_block_signal(int signum)
{
    if (signum <= 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP ||
        signum == SIGSEGV)
        return -EINVAL;
    pthread_mutex_lock(&wd_lock);
    int rc = wd_handler_installed ? -EBUSY : 0;
    if (rc == 0)
        wd_signal = signum;
    pthread_mutex_unlock(&wd_lock);
    return rc;
}
