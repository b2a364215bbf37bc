/* The table of probe kinds: the one place that maps a monitor type to code. */
#include "tocsin/probe.h"

static const struct tocsin_probe_kind *const kinds[] = {
    [TOCSIN_PROBE_HTTP] = &tocsin_probe_http,
    [TOCSIN_PROBE_TCP] = &tocsin_probe_tcp,
};

const struct tocsin_probe_kind *tocsin_probe_kind_of(enum tocsin_probe_type type)
{
    if ((size_t)type >= sizeof(kinds) / sizeof(kinds[0]))
        return NULL;
    return kinds[type];
}

int64_t tocsin_elapsed_ms(uint64_t start_ns)
{
    return (int64_t)((uv_hrtime() - start_ns) / 1000000u);
}

int64_t tocsin_elapsed_ms_ceil(uint64_t start_ns)
{
    return (int64_t)((uv_hrtime() - start_ns + 999999u) / 1000000u);
}
