/* Names to positions: an open-addressing hash over FNV-1a for the lookups by
 * id that would be linear scans at 100,000 monitors (duplicate ids and
 * depends_on at load, stored states at start).  The names are borrowed: they
 * must outlive the index. */
#ifndef TOCSIN_NAME_INDEX_H
#define TOCSIN_NAME_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define TOCSIN_NAME_ABSENT SIZE_MAX

struct tocsin_name_index {
    const char **names;
    size_t *positions;
    size_t mask;  /* capacity - 1, a power of two */
    size_t count;
};

/* Sized for EXPECTED names without growing; 0 on success, -ENOMEM. */
int tocsin_name_index_init(struct tocsin_name_index *ix, size_t expected);
void tocsin_name_index_free(struct tocsin_name_index *ix);

/* Adds NAME at POSITION and returns POSITION; when NAME is there already,
 * returns its position and changes nothing.  TOCSIN_NAME_ABSENT when the
 * index had to grow and could not. */
size_t tocsin_name_index_put(struct tocsin_name_index *ix, const char *name, size_t position);

/* NAME's position, or TOCSIN_NAME_ABSENT. */
size_t tocsin_name_index_get(const struct tocsin_name_index *ix, const char *name);

#endif
