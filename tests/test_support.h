/* test_support.h: what every test file may share. Include after cmocka.h
 * and weft.h. */
#ifndef WEFT_TEST_SUPPORT_H
#define WEFT_TEST_SUPPORT_H

/* Spawns on the current loop and fails the test if that fails; the value
 * is the handle, the caller's to free. Macros, so that the spawn site the
 * debugging aids record is the test's own line. */
#define SPAWN_OPTS(fn, arg, opts)                                                                  \
    ({                                                                                             \
        weft_task *spawned_ = NULL;                                                                \
        assert_int_equal(weft_spawn_opts((fn), (arg), (opts), &spawned_), 0);                      \
        spawned_;                                                                                  \
    })
#define SPAWN(fn, arg) SPAWN_OPTS((fn), (arg), NULL)

/* The same for a task group's child (the caller gets its own handle). */
#define GROUP_SPAWN(group, fn, arg)                                                                \
    ({                                                                                             \
        weft_task *spawned_ = NULL;                                                                \
        assert_int_equal(weft_group_spawn((group), (fn), (arg), &spawned_), 0);                    \
        spawned_;                                                                                  \
    })

/* Waits (bounded: 3 s) until cond holds, then checks it. */
#define WAIT_UNTIL(cond)                                                                           \
    do {                                                                                           \
        for (int i_ = 0; i_ < 300 && !(cond); i_++)                                                \
            assert_int_equal(weft_sleep(0.01), 0);                                                 \
        assert_true(cond);                                                                         \
    } while (0)

/* The process's resident memory, from /proc/self/statm (for the tests'
 * memory bounds). */
#include <stdio.h>
#include <unistd.h>
static inline size_t test_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long size, resident;
    assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

#endif
