/* The parts of RSS from one point's MEMORY figures. */
#include "breakdown.h"

#include <string.h>

void
lt_breakdown_of(const lt_point *p, lt_breakdown *out)
{
    memset(out, 0, sizeof *out);
    if (!p->have_memory)
        return;
    const lt_memory *m = &p->mem;
    out->valid = 1;
    out->have_py = (m->have & LT_MEM_HAVE_PYMALLOC) != 0;
    out->have_heap = (m->have & LT_MEM_HAVE_MALLOC) != 0;
    if (m->have & LT_MEM_HAVE_STATUS) {
        out->rss = m->rss_anon + m->rss_file + m->rss_shmem;
        out->anon = m->rss_anon;
        out->swap = m->vm_swap;
        out->vm_size = m->vm_size;
        out->vm_data = m->vm_data;
        out->part[LT_PART_FILE] = (int64_t)(m->rss_file + m->rss_shmem);
    } else {
        out->rss = p->rss;
    }
    if (out->have_py) {
        out->part[LT_PART_PY_USED] = (int64_t)m->py_used_bytes;
        out->part[LT_PART_PY_FREE] = (int64_t)(m->py_arena_bytes - m->py_used_bytes);
    }
    if (out->have_heap) {
        /* The agent allocates with malloc: its bytes are inside malloc's, shown apart. */
        uint64_t used = m->heap_used_bytes + m->heap_mmap_bytes;
        uint64_t agent = p->agent_bytes < used ? p->agent_bytes : used;
        out->part[LT_PART_AGENT] = (int64_t)agent;
        out->part[LT_PART_NATIVE_USED] = (int64_t)(used - agent);
        out->part[LT_PART_NATIVE_FREE] = (int64_t)m->heap_free_bytes;
    }
    int64_t known = 0;
    for (int k = 0; k < LT_PART_COUNT; k++)
        if (k != LT_PART_OTHER)
            known += out->part[k];
    out->part[LT_PART_OTHER] = (int64_t)out->rss - known;
}

uint64_t
lt_breakdown_value(const lt_model *m, uint32_t i, lt_part part)
{
    lt_breakdown b;
    lt_breakdown_of(lt_model_point(m, i), &b);
    if (!b.valid || b.part[part] < 0)
        return LT_UNKNOWN;
    return (uint64_t)b.part[part];
}

static const char *const names[LT_PART_COUNT][3] = {
    {"Python objects <= 512 B", "py", "python_objects_bytes"},
    {"pymalloc, free", "pyfree", "python_free_bytes"},
    {"C heap in use, Python > 512 B", "C", "native_used_bytes"},
    {"leaktop agent", "agent", "agent_bytes"},
    {"C heap, free", "Cfree", "native_free_bytes"},
    {"file-backed, shared", "file", "file_bytes"},
    {"unexplained", "other", "unexplained_bytes"},
};

const char *
lt_part_name(lt_part part)
{
    return part < LT_PART_COUNT ? names[part][0] : "?";
}

const char *
lt_part_short(lt_part part)
{
    return part < LT_PART_COUNT ? names[part][1] : "?";
}

const char *
lt_part_json(lt_part part)
{
    return part < LT_PART_COUNT ? names[part][2] : "?";
}
