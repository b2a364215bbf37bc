/* Names to positions, open addressing with linear probing; kept at most half
 * full so a miss ends after a probe or two. */
#include "tocsin/name_index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tocsin/sched.h" /* tocsin_fnv1a64 */

static int alloc_slots(struct tocsin_name_index *ix, size_t capacity)
{
    ix->names = calloc(capacity, sizeof(*ix->names));
    ix->positions = calloc(capacity, sizeof(*ix->positions));
    ix->mask = capacity - 1;
    if (ix->names == NULL || ix->positions == NULL) {
        tocsin_name_index_free(ix);
        return -ENOMEM;
    }
    return 0;
}

int tocsin_name_index_init(struct tocsin_name_index *ix, size_t expected)
{
    size_t capacity = 16;

    *ix = (struct tocsin_name_index){.names = NULL};
    while (capacity < 2 * expected + 1)
        capacity <<= 1;
    return alloc_slots(ix, capacity);
}

void tocsin_name_index_free(struct tocsin_name_index *ix)
{
    free(ix->names);
    free(ix->positions);
    *ix = (struct tocsin_name_index){.names = NULL};
}

/* Where NAME is, or the free slot where it goes. */
static size_t slot_of(const struct tocsin_name_index *ix, const char *name)
{
    size_t i = (size_t)tocsin_fnv1a64(name, strlen(name), TOCSIN_FNV1A64_SEED) & ix->mask;

    while (ix->names[i] && strcmp(ix->names[i], name) != 0)
        i = (i + 1) & ix->mask;
    return i;
}

static int grow(struct tocsin_name_index *ix)
{
    struct tocsin_name_index old = *ix;

    if (alloc_slots(ix, 2 * (old.mask + 1)) < 0) {
        *ix = old;
        return -ENOMEM;
    }
    ix->count = old.count;
    for (size_t i = 0; i <= old.mask; i++) {
        if (old.names[i]) {
            size_t s = slot_of(ix, old.names[i]);
            ix->names[s] = old.names[i];
            ix->positions[s] = old.positions[i];
        }
    }
    tocsin_name_index_free(&old);
    return 0;
}

size_t tocsin_name_index_put(struct tocsin_name_index *ix, const char *name, size_t position)
{
    size_t s = slot_of(ix, name);

    if (ix->names[s])
        return ix->positions[s];
    if (2 * (ix->count + 1) > ix->mask + 1) {
        if (grow(ix) < 0)
            return TOCSIN_NAME_ABSENT;
        s = slot_of(ix, name);
    }
    ix->names[s] = name;
    ix->positions[s] = position;
    ix->count++;
    return position;
}

size_t tocsin_name_index_get(const struct tocsin_name_index *ix, const char *name)
{
    size_t s;

    if (ix->names == NULL)
        return TOCSIN_NAME_ABSENT;
    s = slot_of(ix, name);
    return ix->names[s] ? ix->positions[s] : TOCSIN_NAME_ABSENT;
}
