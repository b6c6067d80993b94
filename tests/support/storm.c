/* storm: the cancel/timeout storm harness (storm.h). */
#include "storm.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

static unsigned seed;
bool storm_stop_chaos;
weft_task *storm_victims[STORM_MAX_VICTIMS];
size_t storm_n_victims;
long storm_cancelled, storm_timedout;

void storm_begin(unsigned s)
{
    seed = s;
    storm_stop_chaos = false;
    storm_n_victims = 0;
    storm_cancelled = storm_timedout = 0;
}

int storm_rnd(int n)
{
    return rand_r(&seed) % n;
}

void storm_absorb(void)
{
    weft_task *self = weft_task_current();
    while (weft_cancelling(self) > 0)
        weft_uncancel(self);
}

bool storm_cut(int rc)
{
    return rc == WEFT_ETIMEDOUT || rc == WEFT_ECANCELED;
}

int storm_with_timeout(int (*op)(void *), void *arg, int max_us)
{
    weft_timeout *scope = NULL;
    if (storm_rnd(3) == 0 &&
        weft_timeout_begin(storm_rnd(4) == 0 ? 0 : storm_rnd(max_us) * 1e-6, &scope) != 0)
        return -1;
    int rc = op(arg);
    if (scope)
        rc = weft_timeout_end(scope, rc);
    if (rc == WEFT_ECANCELED) {
        storm_absorb();
        storm_cancelled++;
    } else if (rc == WEFT_ETIMEDOUT) {
        storm_timedout++;
    }
    return rc;
}

void storm_yield(void)
{
    if (weft_sleep(0) == WEFT_ECANCELED) {
        storm_absorb();
        storm_cancelled++;
    }
}

int storm_chaos(void *arg)
{
    int pause_us = (int)(intptr_t)arg;
    while (!storm_stop_chaos) {
        if (storm_rnd(2) == 0 && storm_n_victims > 0)
            weft_cancel(storm_victims[storm_rnd((int)storm_n_victims)]);
        if (weft_sleep(storm_rnd(8) == 0 ? pause_us * 1e-6 : 0) != 0)
            return -1;
    }
    return 0;
}

void storm_chaos_stop(weft_task *chaos)
{
    storm_stop_chaos = true;
    assert_int_equal(weft_await(chaos), 0);
    weft_task_free(chaos);
}
