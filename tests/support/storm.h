/* The cancel/timeout storm harness the storm tests share
 * (tests/test_wait_storm.c, tests/test_io_storm.c): a seeded random
 * source, a chaos task that cancels random victims, waits run under random
 * short timeout scopes (some expired before the wait starts), and the
 * counts that show the storm bit. Seeded, so a failure replays. Runs on
 * one loop: the state is plain globals. */
#ifndef WEFT_TEST_STORM_H
#define WEFT_TEST_STORM_H

#include <stdbool.h>
#include <stddef.h>

#include "weft.h"

#define STORM_MAX_VICTIMS 16

extern bool storm_stop_chaos;
extern weft_task *storm_victims[STORM_MAX_VICTIMS];
extern size_t storm_n_victims;
extern long storm_cancelled, storm_timedout; /* waits cut short: the storm bites */

/* A new storm from seed: no victims, counts at zero, chaos allowed. */
void storm_begin(unsigned seed);
/* 0 .. n-1, from the storm's seed. */
int storm_rnd(int n);
/* Drops every pending cancellation of the current task (the chaos task's;
 * a timeout scope's are taken back by weft_timeout_end). */
void storm_absorb(void);
/* The wait was cut: timed out or cancelled. */
bool storm_cut(int rc);
/* Runs op(arg) under a random timeout scope of up to max_us (a quarter of
 * them expired already), or none; a cancel from the chaos task is absorbed
 * and counted, as is a timeout. op's code, or the scope's. */
int storm_with_timeout(int (*op)(void *), void *arg, int max_us);
/* Yields; a chaos cancel delivered here is absorbed and counted. */
void storm_yield(void);
/* The chaos task: until storm_stop_chaos, cancels a random victim half the
 * time and yields, pausing (intptr_t)arg microseconds one time in eight. */
int storm_chaos(void *arg);
/* Stops the chaos task, awaits it (it must end with 0) and frees it. */
void storm_chaos_stop(weft_task *chaos);

#endif
