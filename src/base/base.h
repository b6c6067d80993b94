/* base: the bottom layer, what every other layer may use and which uses
 * nothing of weft's but the public error codes: branch hints, intrusive
 * doubly linked lists, the log hook's internal side, and (base/fault.h)
 * the fault-injection seam every allocation and failing system call goes
 * through. Nothing here knows about loops or tasks. */
#ifndef WEFT__LAYER_BASE_H
#define WEFT__LAYER_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/fault.h"
#include "weft.h"

/* The always-on debugging aids (creation sites, ages, the blocked-loop
 * watchdog, "never retrieved" marks) can be compiled out with
 * -DWEFT_DEBUG_AIDS=OFF, so that make bench can show what they cost. */
#ifdef WEFT_NO_DEBUG_AIDS
#define WEFT__DEBUG_AIDS 0
#else
#define WEFT__DEBUG_AIDS 1
#endif

#define WEFT_LIKELY(x)                       __builtin_expect(!!(x), 1)
#define WEFT_UNLIKELY(x)                     __builtin_expect(!!(x), 0)
#define WEFT_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ------------------------------------------------ intrusive doubly linked list */

typedef struct weft__link {
    struct weft__link *prev, *next;
} weft__link;

static inline void weft__list_init(weft__link *head)
{
    head->prev = head->next = head;
}
static inline bool weft__list_empty(const weft__link *head)
{
    return head->next == head;
}
static inline void weft__list_push_back(weft__link *head, weft__link *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}
static inline void weft__list_remove(weft__link *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node->next = node;
}
static inline weft__link *weft__list_pop_front(weft__link *head)
{
    weft__link *n = head->next;
    if (n == head)
        return NULL;
    weft__list_remove(n);
    return n;
}
/* A node removed with weft__list_remove points to itself. */
static inline bool weft__link_linked(const weft__link *node)
{
    return node->next != node;
}

/* ------------------------------------------------------------------- log */

/* Sends msg to the user's log sink if level passes the threshold (log.c). */
void weft__log_msg(weft_log_level level, const char *topic, const char *msg);
/* True while no sink was set (the reports then go to stderr as they are). */
bool weft__log_default_sink(void);

#endif
