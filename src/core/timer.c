/* timer: the loop's clock and its timers. Sleeps, timeout scopes,
 * call_later and waits with deadlines all embed a weft__timer; one libuv
 * timer wakes the loop for the earliest of them.
 *
 * The timers live in a hierarchical timing wheel (the Linux kernel's and
 * Tokio's design). Time counts in ticks of 2^20 ns (~1.05 ms). Level 0 is
 * a ring of 1024 one-tick slots for the next ~1.07 s; above it five levels
 * of 64 slots, each slot as long as the whole level below, reach 2^40
 * ticks (~36 years); a list holds what lies beyond. Arming and disarming
 * link or unlink a list node and set a bit: they cannot fail. As time
 * passes, the earliest non-empty slot is taken: a level-0 slot joins the
 * due list, sorted by (deadline, arming order) if its timers did not come
 * in that order; a higher slot is spread over the levels below. A timer due
 * within a second is touched when armed and when fired, one further away
 * once more per level it descends, where a heap touches log2(n) timers per
 * expiry. The due list gives the exact order and the sub-tick check: a
 * timer fires only once now >= its deadline. docs/INTERNALS.md has the
 * measurements that chose this design. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/core.h"

uint64_t weft__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec weft__timespec_of(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000u),
                             .tv_nsec = (long)(ns % 1000000000u)};
}

double weft_time(void)
{
    return (double)weft__now_ns() / 1e9;
}

int weft__deadline_at(double when, uint64_t *deadline)
{
    if (isnan(when))
        return -EINVAL;
    if (when >= WEFT__FOREVER_SECONDS)
        *deadline = UINT64_MAX;
    else if (when <= 0)
        *deadline = 0;
    else
        *deadline = (uint64_t)(when * 1e9);
    return 0;
}

int weft__deadline_after(double seconds, uint64_t *deadline)
{
    if (isnan(seconds))
        return -EINVAL;
    if (seconds >= WEFT__FOREVER_SECONDS) {
        *deadline = UINT64_MAX;
        return 0;
    }
    uint64_t now = weft__now_ns();
    *deadline = seconds <= 0 ? now : now + (uint64_t)(seconds * 1e9);
    return 0;
}

#define TICK_SHIFT 20 /* a tick is 2^20 ns */
#define NEAR_BITS  WEFT__WHEEL_NEAR_BITS
#define NEAR       WEFT__WHEEL_NEAR
#define NEAR_MASK  (NEAR - 1)
#define UPPER      WEFT__WHEEL_UPPER
#define SLOT_BITS  6                               /* the upper levels' 64 slots */
#define WHEEL_BITS (NEAR_BITS + SLOT_BITS * UPPER) /* the wheel spans 2^40 ticks */

/* weft__timer.where: 0 when not armed, else ARMED + the level of the slot
 * it was placed in. A timer in the due, pending or overflow list says level
 * 0: disarming it then checks whether a level-0 slot is empty, which is
 * always a correct thing to do, and moving a slot to the due list needs no
 * pass over its timers. */
enum { IDLE, ARMED };

static inline uint64_t tick_of(uint64_t ns)
{
    return ns >> TICK_SHIFT;
}

static inline weft__timer *timer_of(weft__link *l)
{
    return WEFT_CONTAINER_OF(l, weft__timer, link);
}

static inline bool before(const weft__timer *a, const weft__timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* Moves every node of `from` to the end of `to`. */
static void list_splice_back(weft__link *to, weft__link *from)
{
    if (weft__list_empty(from))
        return;
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    weft__list_init(from);
}

static void list_insert_after(weft__link *pos, weft__link *node)
{
    node->prev = pos;
    node->next = pos->next;
    pos->next->prev = node;
    pos->next = node;
}

static inline bool bit_get(const uint64_t *bits, unsigned i)
{
    return bits[i / 64] >> (i % 64) & 1;
}

static inline void bit_put(uint64_t *bits, unsigned i, bool on)
{
    if (on)
        bits[i / 64] |= 1ull << (i % 64);
    else
        bits[i / 64] &= ~(1ull << (i % 64));
}

/* ------------------------------------------------------------ sorting */

static weft__link *merge(weft__link *a, weft__link *b)
{
    weft__link head, *tail = &head;
    while (a && b) {
        if (before(timer_of(b), timer_of(a))) {
            tail->next = b;
            b = b->next;
        } else {
            tail->next = a;
            a = a->next;
        }
        tail = tail->next;
    }
    tail->next = a ? a : b;
    return head.next;
}

/* Sorts a circular list by (when, seq): a bottom-up merge sort on the next
 * pointers (bins[i] holds a sorted run of 2^i nodes), then prev relinked. */
static void list_sort(weft__link *head)
{
    weft__link *bins[64] = {0};
    weft__link *l = head->next;
    head->prev->next = NULL;
    while (l) {
        weft__link *carry = l;
        l = l->next;
        carry->next = NULL;
        unsigned i = 0;
        for (; bins[i]; i++) {
            carry = merge(bins[i], carry);
            bins[i] = NULL;
        }
        bins[i] = carry;
    }
    weft__link *sorted = NULL;
    for (unsigned i = 0; i < 64; i++)
        if (bins[i])
            sorted = merge(bins[i], sorted);
    weft__link *prev = head;
    for (l = sorted; l; l = l->next) {
        l->prev = prev;
        prev = l;
    }
    /* The forward links were set by merge; close the circle. */
    head->next = sorted;
    prev->next = head;
    head->prev = prev;
}

/* ------------------------------------------------------------ the wheel */

/* Level 0 is a ring of NEAR one-tick slots for the ticks in [elapsed,
 * elapsed + NEAR): slot tick % NEAR. Above it, level L (1..UPPER) has 64
 * slots of NEAR * 64^(L-1) ticks each, aligned: a timer goes to the level
 * of the highest 6-bit group in which tick / NEAR differs from elapsed /
 * NEAR (Tokio's rule), and is spread over the levels below when `elapsed`
 * reaches its slot's start. */

static inline unsigned upper_shift(unsigned level) /* ticks per slot, as a shift */
{
    return NEAR_BITS + SLOT_BITS * (level - 1);
}

static inline unsigned upper_slot(uint64_t tick, unsigned level)
{
    return (unsigned)(tick >> upper_shift(level)) & 63;
}

/* The level for a tick at or after elapsed; UPPER + 1: beyond the wheel. */
static unsigned level_for(uint64_t elapsed, uint64_t tick)
{
    if (tick - elapsed < NEAR)
        return 0;
    uint64_t diff = (tick >> NEAR_BITS) ^ (elapsed >> NEAR_BITS); /* not 0 */
    return 1 + (63u - (unsigned)__builtin_clzll(diff)) / SLOT_BITS;
}

/* Into the due list at its place. New timers mostly go last (deadlines
 * after every due one) or first (a deadline already past); otherwise the
 * list is short: it holds at most the ticks up to the current one. */
static void due_insert(weft__timers *w, weft__timer *t)
{
    t->where = ARMED;
    weft__link *pos = w->due.prev;
    if (pos != &w->due && before(t, timer_of(pos))) {
        if (before(t, timer_of(w->due.next))) {
            pos = &w->due;
        } else {
            while (before(t, timer_of(pos)))
                pos = pos->prev;
        }
    }
    list_insert_after(pos, &t->link);
}

static void near_put(weft__timers *w, weft__timer *t, uint64_t tick)
{
    unsigned slot = (unsigned)tick & NEAR_MASK;
    weft__link *head = &w->near[slot];
    /* A level-0 slot is sorted when taken, and only if need be: timers
     * mostly come in deadline order. */
    if (weft__list_empty(head)) {
        bit_put(w->near_occupied, slot, true);
        bit_put(w->near_unsorted, slot, false);
        w->near_words |= 1ull << (slot / 64);
    } else if (before(t, timer_of(head->prev))) {
        bit_put(w->near_unsorted, slot, true);
    }
    t->where = ARMED;
    weft__list_push_back(head, &t->link);
}

/* Links t where its deadline says. A tick already moved to the due list
 * goes there, or, while the due timers fire, to the pending list: a timer
 * armed by a callback waits for the next run, even if it is due. */
static void place(weft__timers *w, weft__timer *t)
{
    uint64_t tick = tick_of(t->when);
    if (tick < w->elapsed) {
        if (w->running) {
            t->where = ARMED;
            weft__list_push_back(&w->pending, &t->link);
        } else {
            due_insert(w, t);
        }
        return;
    }
    unsigned level = level_for(w->elapsed, tick);
    if (level == 0) {
        near_put(w, t, tick);
    } else if (level > UPPER) {
        t->where = ARMED;
        weft__list_push_back(&w->overflow, &t->link);
    } else {
        unsigned slot = upper_slot(tick, level);
        t->where = (uint8_t)(ARMED + level);
        weft__list_push_back(&w->upper[level - 1][slot], &t->link);
        w->upper_occupied[level - 1] |= 1ull << slot;
    }
}

/* Places again every timer of `list` (a slot taken, or the overflow); the
 * list head is left stale. A walk over cold timers waits on each one's
 * link: fetch the next while placing this one. */
static void place_all(weft__timers *w, weft__link *list)
{
    for (weft__link *l = list->next, *next; l != list; l = next) {
        next = l->next;
        __builtin_prefetch(next);
        place(w, timer_of(l));
    }
}

/* Keeps the bitmaps true after t left a slot of `level`. */
static void slot_left(weft__timers *w, const weft__timer *t, unsigned level)
{
    uint64_t tick = tick_of(t->when);
    if (level == 0) {
        unsigned slot = (unsigned)tick & NEAR_MASK;
        if (weft__list_empty(&w->near[slot])) {
            bit_put(w->near_occupied, slot, false);
            if (w->near_occupied[slot / 64] == 0)
                w->near_words &= ~(1ull << (slot / 64));
        }
    } else {
        unsigned slot = upper_slot(tick, level);
        if (weft__list_empty(&w->upper[level - 1][slot]))
            w->upper_occupied[level - 1] &= ~(1ull << slot);
    }
}

/* Moves `elapsed` on; entering a new span of the wheel (every 2^40 ticks)
 * brings in the overflow timers that now fit. */
static void set_elapsed(weft__timers *w, uint64_t tick)
{
    bool new_span = (tick >> WHEEL_BITS) != (w->elapsed >> WHEEL_BITS);
    w->elapsed = tick;
    if (new_span && !weft__list_empty(&w->overflow)) {
        weft__link list;
        weft__list_init(&list);
        list_splice_back(&list, &w->overflow);
        place_all(w, &list);
    }
}

/* The first non-empty level-0 slot at or after elapsed's, around the ring. */
static bool near_next(const weft__timers *w, uint64_t *start)
{
    if (w->near_words == 0)
        return false;
    unsigned from = (unsigned)w->elapsed & NEAR_MASK, word = from / 64;
    uint64_t bits = w->near_occupied[word] & (~0ull << (from % 64));
    unsigned slot;
    if (bits) {
        slot = word * 64 + (unsigned)__builtin_ctzll(bits);
    } else {
        /* The next non-empty word after this one, around the ring; this
         * one again last, for its slots before `from`. */
        uint64_t words = w->near_words;
        uint64_t after = word + 1 < 64 ? words & (~0ull << (word + 1)) : 0;
        unsigned next = after ? (unsigned)__builtin_ctzll(after) : (unsigned)__builtin_ctzll(words);
        slot = next * 64 + (unsigned)__builtin_ctzll(w->near_occupied[next]);
    }
    *start = w->elapsed + ((slot - from) & NEAR_MASK);
    return true;
}

/* The earliest non-empty slot: its level (UPPER + 1: the overflow, whose
 * timers come in at the next span) and its first tick. An upper timer
 * shares the groups above its level with `elapsed` at the time it was
 * placed, and `elapsed` never passes the start of an occupied slot, so
 * each upper level's lowest set bit is its earliest slot and none starts
 * before `elapsed`. Levels can interleave (a slot of level 1 may start
 * before a level-0 timer placed after it): compare them all, and on a tie
 * take the higher level, so that it is spread before the tick it shares
 * is taken. */
static bool next_slot(const weft__timers *w, unsigned *level, uint64_t *start)
{
    bool found = near_next(w, start);
    if (found)
        *level = 0;
    for (unsigned l = 1; l <= UPPER; l++) {
        uint64_t occ = w->upper_occupied[l - 1];
        if (occ == 0)
            continue;
        unsigned shift = upper_shift(l);
        uint64_t span_start = w->elapsed & ~((1ull << (shift + SLOT_BITS)) - 1);
        uint64_t s = span_start + ((uint64_t)__builtin_ctzll(occ) << shift);
        if (!found || s <= *start) {
            *level = l;
            *start = s;
            found = true;
        }
    }
    if (found || weft__list_empty(&w->overflow))
        return found;
    *level = UPPER + 1;
    *start = ((w->elapsed >> WHEEL_BITS) + 1) << WHEEL_BITS;
    return true;
}

/* Empties the slot that starts at `start`: a level-0 slot is one tick, due
 * now, and joins the due list sorted; a higher one is spread over the
 * levels below. */
static void take_slot(weft__timers *w, unsigned level, uint64_t start)
{
    if (level > UPPER) {
        set_elapsed(w, start);
        return;
    }
    weft__link list;
    weft__list_init(&list);
    if (level > 0) {
        unsigned slot = upper_slot(start, level);
        list_splice_back(&list, &w->upper[level - 1][slot]);
        w->upper_occupied[level - 1] &= ~(1ull << slot);
        set_elapsed(w, start);
        place_all(w, &list);
        return;
    }
    unsigned slot = (unsigned)start & NEAR_MASK;
    list_splice_back(&list, &w->near[slot]);
    bit_put(w->near_occupied, slot, false);
    if (w->near_occupied[slot / 64] == 0)
        w->near_words &= ~(1ull << (slot / 64));
    if (bit_get(w->near_unsorted, slot))
        list_sort(&list);
    list_splice_back(&w->due, &list);
    set_elapsed(w, start + 1);
}

/* Moves every slot whose ticks are <= now_tick to the due list. */
static void advance(weft__timers *w, uint64_t now_tick)
{
    unsigned level = 0;
    uint64_t start = 0;
    while (next_slot(w, &level, &start) && start <= now_tick)
        take_slot(w, level, start);
    if (w->elapsed <= now_tick)
        set_elapsed(w, now_tick + 1);
}

/* ------------------------------------------------------------ interface */

void weft__timers_init(weft_loop *loop, uint64_t now)
{
    weft__timers *w = &loop->timers;
    memset(w, 0, sizeof *w);
    weft__list_init(&w->due);
    weft__list_init(&w->pending);
    weft__list_init(&w->overflow);
    for (unsigned l = 0; l < UPPER; l++)
        for (unsigned s = 0; s < 64; s++)
            weft__list_init(&w->upper[l][s]);
    for (unsigned s = 0; s < NEAR; s++)
        weft__list_init(&w->near[s]);
    w->elapsed = tick_of(now);
}

void weft__timer_start(weft_loop *loop, weft__timer *t, uint64_t when)
{
    weft__timers *w = &loop->timers;
    weft__timer_stop(loop, t);
    t->when = when;
    t->seq = w->next_seq++;
    w->count++;
    place(w, t);
}

void weft__timer_stop(weft_loop *loop, weft__timer *t)
{
    unsigned where = t->where;
    if (where == IDLE)
        return;
    weft__timers *w = &loop->timers;
    weft__list_remove(&t->link);
    slot_left(w, t, where - ARMED);
    t->where = IDLE;
    w->count--;
}

/* Timers armed by a callback for a time that has already passed wait for
 * the next round (the pending list), so a callback that re-arms itself
 * cannot starve the loop. */
void weft__timers_run(weft_loop *loop, uint64_t now)
{
    weft__timers *w = &loop->timers;
    if (w->count == 0) { /* keep `elapsed` near the clock: timers armed next land low */
        if (w->elapsed <= tick_of(now))
            w->elapsed = tick_of(now) + 1;
        return;
    }
    advance(w, tick_of(now));
    w->running = true;
    while (!weft__list_empty(&w->due)) {
        weft__timer *t = timer_of(w->due.next);
        if (t->when > now)
            break;
        __builtin_prefetch(t->link.next); /* while the callback runs */
        weft__list_remove(&t->link);
        t->where = IDLE;
        w->count--;
        t->fn(t);
    }
    w->running = false;
    weft__link *l;
    while ((l = weft__list_pop_front(&w->pending)) != NULL)
        due_insert(w, timer_of(l));
}

/* The due list's first timer is the earliest (every tick before `elapsed`
 * is in it, none after). Otherwise the earliest slot's: a level-0 slot is
 * one tick, sorted here if need be, its first timer exact; a higher slot
 * gives its start, and waking then spreads it (once per slot at most). */
uint64_t weft__timers_next(weft_loop *loop)
{
    weft__timers *w = &loop->timers;
    if (!weft__list_empty(&w->due))
        return timer_of(w->due.next)->when;
    unsigned level = 0;
    uint64_t start = 0;
    if (!next_slot(w, &level, &start))
        return UINT64_MAX;
    if (level > 0)
        return start < (UINT64_MAX >> TICK_SHIFT) ? start << TICK_SHIFT : UINT64_MAX;
    unsigned slot = (unsigned)start & NEAR_MASK;
    if (bit_get(w->near_unsorted, slot)) {
        list_sort(&w->near[slot]);
        bit_put(w->near_unsorted, slot, false);
    }
    return timer_of(w->near[slot].next)->when;
}

size_t weft__timers_count(const weft_loop *loop)
{
    return loop->timers.count;
}
