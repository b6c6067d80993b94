/* redis_test.h: what the Redis test files share. One redis-server for the
 * whole file (redis_server.c), started by the group's setup and stopped
 * by its teardown, and REDIS_LOOP_TEST(fn): the cmocka test test_fn that
 * runs fn as the main task of a fresh loop and expects it to return 0.
 * Include after cmocka.h. */
#ifndef WEFT_TEST_REDIS_TEST_H
#define WEFT_TEST_REDIS_TEST_H

#include "redis_server.h"
#include "test_support.h"
#include "weft.h"

static redis_server srv;

static int redis_group_setup(void **state)
{
    (void)state;
    return redis_server_start(&srv);
}

static int redis_group_teardown(void **state)
{
    (void)state;
    test_recover(); /* a last test that failed inside a task */
    redis_server_stop(&srv);
    return 0;
}

#define REDIS_LOOP_TEST(fn)                                                                        \
    static void test_##fn(void **state)                                                            \
    {                                                                                              \
        (void)state;                                                                               \
        RUN_WITH(fn, NULL);                                                                        \
    }                                                                                              \
    extern int redis_loop_test_semicolon /* so that a use ends with ';' */

#endif
