/* The check report as the JSON object the README and docs/leaktop.1 describe ("leaktop_report": 1). */
#include <math.h>
#include <string.h>

#include "json_writer.h"
#include "report.h"
#include "report_tree.h"

/* A traceback as the contracts write it: newest frame first. */
static void
write_traceback(lt_json *j, const lt_model *m, uint32_t trace_id)
{
    lt_json_array(j);
    const lt_model_trace *t = m ? lt_model_trace_get(m, trace_id) : NULL;
    for (uint32_t i = 0; t != NULL && i < t->nframes; i++) {
        lt_json_object(j);
        lt_json_key(j, "file");
        lt_json_str(j, lt_model_string(m, t->frames[i].file_id));
        lt_json_key(j, "line");
        lt_json_u64(j, t->frames[i].line);
        lt_json_key(j, "function");
        lt_json_str(j, lt_model_string(m, t->frames[i].func_id));
        lt_json_end_object(j);
    }
    lt_json_end_array(j);
}

/* Where a type suspect's live instances were allocated, most bytes first (the agent's answer to
 * TYPE_SITES, when it came): each site's newest frame, estimate and traceback. */
static void
write_type_sites(lt_json *j, const lt_model *m, const lt_model_type_sites *ts)
{
    lt_json_key(j, "allocation_sites");
    lt_json_array(j);
    for (uint32_t i = 0; i < ts->nrows; i++) {
        const lt_model_trace *t = lt_model_trace_get(m, ts->rows[i].trace_id);
        const lt_trace_frame *top = t != NULL && t->nframes > 0 ? &t->frames[0] : NULL;
        lt_json_object(j);
        lt_json_key(j, "file");
        lt_json_str(j, top ? lt_model_string(m, top->file_id) : "");
        lt_json_key(j, "line");
        lt_json_u64(j, top ? top->line : 0);
        lt_json_key(j, "function");
        lt_json_str(j, top ? lt_model_string(m, top->func_id) : "");
        lt_json_key(j, "live_bytes");
        lt_json_u64(j, ts->rows[i].live_bytes);
        lt_json_key(j, "live_count");
        lt_json_u64(j, ts->rows[i].live_count);
        lt_json_key(j, "samples");
        lt_json_u64(j, ts->rows[i].samples);
        lt_json_key(j, "traceback");
        write_traceback(j, m, ts->rows[i].trace_id);
        lt_json_end_object(j);
    }
    lt_json_end_array(j);
    lt_json_key(j, "allocation_sites_note");
    lt_json_str(j, ts->note);
    lt_json_key(j, "allocation_sites_sampled");
    lt_json_u64(j, ts->sampled);
}

/* A suspect of r's model; f: the finding it is the best of, over a program's processes (its
 * pids), or NULL for a process alone. */
static void
write_suspect(lt_json *j, const lt_report *r, const lt_suspect *s, const lt_finding *f)
{
    int site = s->kind == LT_SUSPECT_SITE;
    /* A type suspect names the top allocation site of its live instances, when known. */
    const lt_model_type_sites *ts = s->kind == LT_SUSPECT_TYPE && r->model
                                        ? lt_model_type_sites_get(r->model, s->name_id) : NULL;
    const lt_model_trace *tt = ts != NULL && ts->nrows > 0
                                   ? lt_model_trace_get(r->model, ts->rows[0].trace_id) : NULL;
    if (tt != NULL && tt->nframes == 0)
        tt = NULL;
    lt_json_object(j);
    lt_json_key(j, "kind");
    lt_json_str(j, lt_suspect_kind_name(s->kind));
    lt_json_key(j, "name");
    lt_json_str(j, s->name);
    lt_json_key(j, "file");
    lt_json_str(j, site && r->model ? lt_model_string(r->model, s->file_id)
                   : tt ? lt_model_string(r->model, tt->frames[0].file_id) : "");
    lt_json_key(j, "line");
    lt_json_u64(j, site ? s->line : tt ? tt->frames[0].line : 0);
    lt_json_key(j, "traceback");
    if (site)
        write_traceback(j, r->model, s->trace_id);
    else if (tt)
        write_traceback(j, r->model, tt->id);
    else {
        lt_json_array(j);
        lt_json_end_array(j);
    }
    if (ts != NULL)
        write_type_sites(j, r->model, ts);
    lt_json_key(j, "score");
    lt_json_double(j, s->score);
    lt_json_key(j, "growth_bytes_per_s");
    lt_json_double(j, s->growth_bytes_per_s);
    lt_json_key(j, "estimated");
    lt_json_bool(j, s->estimated);
    lt_json_key(j, "reason");
    lt_json_str(j, s->reason);
    /* The processes it was found in (a program of several: every one that shows it). */
    lt_json_key(j, "pids");
    lt_json_array(j);
    if (f == NULL)
        lt_json_u64(j, r->pid);
    for (int i = 0; f != NULL && i < f->nprocs && i < LT_FINDING_MAX_PIDS; i++)
        lt_json_u64(j, (uint64_t)f->pids[i]);
    lt_json_end_array(j);
    const lt_model_why *why = s->kind == LT_SUSPECT_TYPE && r->model
                                  ? lt_model_why_get(r->model, s->name_id) : NULL;
    if (why != NULL) {
        /* What keeps it alive: hops from a root down to one instance, as a Python expression
         * piece and the type each hop reaches. */
        lt_json_key(j, "referrers");
        lt_json_array(j);
        for (uint32_t i = 0; i < why->nhops; i++) {
            lt_json_object(j);
            lt_json_key(j, "expression");
            lt_json_str(j, why->hop_text[i]);
            lt_json_key(j, "type");
            lt_json_str(j, why->hop_type[i]);
            lt_json_end_object(j);
        }
        lt_json_end_array(j);
        char chain[2048];
        size_t len = 0;
        chain[0] = '\0';
        for (uint32_t i = 0; i < why->nhops && len < sizeof chain; i++)
            len += (size_t)snprintf(chain + len, sizeof chain - len, "%s", why->hop_text[i]);
        lt_json_key(j, "referrer_chain");
        lt_json_str(j, why->found ? chain : "");
        lt_json_key(j, "referrers_note");
        lt_json_str(j, why->found ? "" : why->note);
        lt_json_key(j, "referrers_pause_ms");
        lt_json_double(j, why->max_pause_ms);
    }
    lt_json_end_object(j);
}

/* Every process of a followed program: who it is and what it showed. */
static void
write_processes(lt_json *j, const lt_report_tree *t)
{
    /* The whole program: its processes' RSS and growth summed. */
    uint64_t rss = 0;
    double growth = 0;
    for (int i = 0; i < t->nprocs; i++) {
        rss += t->procs[i].report->rss;
        growth += t->procs[i].report->rss_growth;
    }
    lt_json_key(j, "tree");
    lt_json_object(j);
    lt_json_key(j, "processes");
    lt_json_u64(j, (uint64_t)t->nprocs);
    lt_json_key(j, "rss_bytes");
    lt_json_u64(j, rss);
    lt_json_key(j, "rss_growth_bytes_per_s");
    lt_json_double(j, growth);
    lt_json_end_object(j);
    lt_json_key(j, "processes");
    lt_json_array(j);
    for (int i = 0; i < t->nprocs; i++) {
        const lt_report_proc *p = &t->procs[i];
        const lt_report *pr = p->report;
        lt_json_object(j);
        lt_json_key(j, "pid");
        lt_json_u64(j, (uint64_t)p->pid);
        lt_json_key(j, "ppid");
        lt_json_u64(j, (uint64_t)p->ppid);
        lt_json_key(j, "role");
        lt_json_str(j, p->role);
        lt_json_key(j, "ended");
        lt_json_bool(j, p->gone);
        lt_json_key(j, "samples");
        lt_json_u64(j, pr->samples);
        lt_json_key(j, "rss_bytes");
        lt_json_u64(j, pr->rss);
        lt_json_key(j, "rss_growth_bytes_per_s");
        lt_json_double(j, pr->rss_growth);
        lt_json_key(j, "python_bytes_estimate");
        lt_json_u64(j, pr->heap);
        lt_json_key(j, "suspects");
        lt_json_array(j);
        for (int k = 0; k < pr->nsuspects; k++)
            lt_json_str(j, pr->suspects[k].name);
        lt_json_end_array(j);
        lt_json_end_object(j);
    }
    lt_json_end_array(j);
}

static void
write_site_ref(lt_json *j, const lt_model *m, uint32_t trace_id, const lt_trace_frame *fr)
{
    lt_json_object(j);
    lt_json_key(j, "file");
    lt_json_str(j, lt_model_string(m, fr->file_id));
    lt_json_key(j, "line");
    lt_json_u64(j, fr->line);
    lt_json_key(j, "function");
    lt_json_str(j, lt_model_string(m, fr->func_id));
    lt_json_key(j, "traceback");
    write_traceback(j, m, trace_id);
    lt_json_end_object(j);
}

/* One finding: the sentence, its figures, where, what holds it, how sure, and its parts. */
static void
write_leak(lt_json *j, const lt_report *r, const lt_leak *f)
{
    const lt_model *m = r->model;
    lt_json_object(j);
    lt_json_key(j, "summary");
    lt_json_str(j, f->sentence);
    lt_json_key(j, "kind");
    lt_json_str(j, lt_suspect_kind_name(f->kind));
    lt_json_key(j, "type");
    lt_json_str(j, f->kind == LT_SUSPECT_TYPE ? f->what : "");
    lt_json_key(j, "name");
    lt_json_str(j, f->what);
    lt_json_key(j, "count_per_s");
    lt_json_double(j, f->count_per_s);
    lt_json_key(j, "bytes_per_s");
    lt_json_double(j, f->bytes_per_s);
    lt_json_key(j, "owned_bytes_each");
    lt_json_double(j, f->owned_each);
    lt_json_key(j, "shallow_bytes_each");
    lt_json_double(j, f->shallow_each);
    lt_json_key(j, "file");
    lt_json_str(j, f->have_site ? lt_model_string(m, f->file_id) : "");
    lt_json_key(j, "line");
    lt_json_u64(j, f->have_site ? f->line : 0);
    lt_json_key(j, "function");
    lt_json_str(j, f->have_site ? lt_model_string(m, f->func_id) : "");
    lt_json_key(j, "library_frames");
    lt_json_u64(j, f->lib_frames);
    lt_json_key(j, "traceback");
    if (f->have_site) {
        write_traceback(j, m, f->trace_id);
    } else {
        lt_json_array(j);
        lt_json_end_array(j);
    }
    lt_json_key(j, "holder");
    lt_json_str(j, f->holder);
    lt_json_key(j, "holder_type");
    lt_json_str(j, f->holder_type);
    lt_json_key(j, "holder_root");
    lt_json_str(j, f->root);
    lt_json_key(j, "holder_note");
    lt_json_str(j, f->holder_note);
    lt_json_key(j, "score");
    lt_json_double(j, f->score);
    lt_json_key(j, "score_reason");
    lt_json_str(j, f->score_why);
    /* The suspects it groups, and every allocation site known for them. */
    lt_json_key(j, "parts");
    lt_json_array(j);
    for (int k = 0; k < f->nparts; k++) {
        const lt_suspect *x = &r->suspects[f->parts[k]];
        lt_json_object(j);
        lt_json_key(j, "kind");
        lt_json_str(j, lt_suspect_kind_name(x->kind));
        lt_json_key(j, "name");
        lt_json_str(j, x->name);
        lt_json_key(j, "growth_bytes_per_s");
        lt_json_double(j, x->growth_bytes_per_s);
        lt_json_key(j, "growth_count_per_s");
        lt_json_double(j, x->growth_count_per_s);
        lt_json_end_object(j);
    }
    lt_json_end_array(j);
    lt_json_key(j, "sites");
    lt_json_array(j);
    for (int k = 0; m != NULL && k < f->nparts; k++) {
        const lt_suspect *x = &r->suspects[f->parts[k]];
        if (x->kind == LT_SUSPECT_SITE) {
            lt_trace_frame fr = {x->file_id, x->func_id, x->line};
            write_site_ref(j, m, x->trace_id, &fr);
            continue;
        }
        const lt_model_type_sites *ts = x->kind == LT_SUSPECT_TYPE
                                            ? lt_model_type_sites_get(m, x->name_id) : NULL;
        for (uint32_t row = 0; ts != NULL && row < ts->nrows && row < 3; row++) {
            const lt_model_trace *t = lt_model_trace_get(m, ts->rows[row].trace_id);
            if (t == NULL || t->nframes == 0)
                continue;
            uint32_t u = lt_model_user_frame((lt_model *)m, t);
            write_site_ref(j, m, t->id, &t->frames[u]);
        }
    }
    lt_json_end_array(j);
    lt_json_end_object(j);
}

/* A limit value: null when there is none. */
static void
limit_value(lt_json *j, uint64_t v)
{
    if (v == LT_NO_LIMIT)
        lt_json_null(j);
    else
        lt_json_u64(j, v);
}

/* Seconds, or null (no forecast, or a range end that is never reached). */
static void
seconds_or_null(lt_json *j, int have, double s)
{
    if (have && isfinite(s))
        lt_json_double(j, s);
    else
        lt_json_null(j);
}

/* The limit that binds first, the time until it (null when memory is flat or falling), and
 * every limit found. Inside "process". */
static void
write_limits(lt_json *j, const lt_report *r)
{
    const lt_forecast *fc = &r->forecast;
    int have = r->have_limits && fc->have_limit;
    lt_json_key(j, "limit_bytes");
    if (have)
        lt_json_u64(j, fc->limit.limit);
    else
        lt_json_null(j);
    lt_json_key(j, "limit_source");
    lt_json_str(j, have ? fc->limit.source : NULL);
    lt_json_key(j, "oom_eta_s");
    seconds_or_null(j, have && fc->growing, fc->eta_s);
    if (!r->have_limits)
        return;
    lt_json_key(j, "oom_forecast");
    lt_json_object(j);
    lt_json_key(j, "usage_bytes");
    lt_json_u64(j, have ? fc->limit.usage : 0);
    lt_json_key(j, "headroom_bytes");
    lt_json_u64(j, have ? (uint64_t)fc->headroom : 0);
    lt_json_key(j, "figure");
    lt_json_str(j, !have ? NULL : fc->limit.figure == LT_FIGURE_VM_SIZE ? "vm_size"
                   : fc->limit.figure == LT_FIGURE_VM_DATA ? "vm_data" : "rss");
    lt_json_key(j, "growth_bytes_per_s");
    lt_json_double(j, fc->growth);
    lt_json_key(j, "growth_stderr_bytes_per_s");
    lt_json_double(j, fc->growth_se);
    lt_json_key(j, "eta_low_s");
    seconds_or_null(j, have && fc->growing, fc->eta_low_s);
    lt_json_key(j, "eta_high_s");
    seconds_or_null(j, have && fc->growing, fc->eta_high_s);
    lt_json_key(j, "window_s");
    lt_json_double(j, fc->window_s);
    lt_json_key(j, "points");
    lt_json_u64(j, fc->points);
    lt_json_key(j, "made_at_unix_s");
    lt_json_double(j, r->forecast_wall_s);
    lt_json_end_object(j);

    const lt_limits *l = &r->limits;
    lt_json_key(j, "limits");
    lt_json_array(j);
    for (int i = 0; i < l->nlimits; i++) {
        lt_json_object(j);
        lt_json_key(j, "source");
        lt_json_str(j, l->limits[i].source);
        lt_json_key(j, "where");
        lt_json_str(j, l->limits[i].where);
        lt_json_key(j, "limit_bytes");
        lt_json_u64(j, l->limits[i].limit);
        lt_json_key(j, "usage_bytes");
        lt_json_u64(j, l->limits[i].usage);
        lt_json_end_object(j);
    }
    lt_json_end_array(j);
    lt_json_key(j, "cgroup");
    if (l->cgroup_version == 0) {
        lt_json_null(j);
    } else {
        lt_json_object(j);
        lt_json_key(j, "version");
        lt_json_u64(j, (uint64_t)l->cgroup_version);
        lt_json_key(j, "path");
        lt_json_str(j, l->cgroup);
        lt_json_key(j, "current_bytes");
        lt_json_u64(j, l->cgroup_current);
        lt_json_key(j, "max_bytes");
        limit_value(j, l->cgroup_max);
        lt_json_key(j, "high_bytes");
        limit_value(j, l->cgroup_high);
        lt_json_key(j, "oom_kills");
        lt_json_u64(j, l->cgroup_oom_kills);
        lt_json_key(j, "failcnt");
        lt_json_u64(j, l->cgroup_failcnt);
        lt_json_end_object(j);
    }
    lt_json_key(j, "rlimit_as_bytes");
    limit_value(j, l->rlimit_as);
    lt_json_key(j, "rlimit_data_bytes");
    limit_value(j, l->rlimit_data);
    lt_json_key(j, "mem_available_bytes");
    lt_json_u64(j, l->mem_available);
}

/* Where the memory goes: every part in bytes (unexplained may be negative), their growth, and
 * fragmentation as a note. null without MEMORY frames (an older agent). */
static void
write_breakdown(lt_json *j, const lt_report *r)
{
    lt_json_key(j, "breakdown");
    if (!r->have_breakdown) {
        lt_json_null(j);
        return;
    }
    const lt_breakdown *b = &r->breakdown;
    const lt_memory *mem = r->memory;
    lt_json_object(j);
    lt_json_key(j, "rss_bytes");
    lt_json_u64(j, b->rss);
    for (int part = 0; part < LT_PART_COUNT; part++) {
        lt_json_key(j, lt_part_json((lt_part)part));
        lt_json_i64(j, b->part[part]);
    }
    lt_json_key(j, "rss_anon_bytes");
    lt_json_u64(j, mem->rss_anon);
    lt_json_key(j, "rss_file_bytes");
    lt_json_u64(j, mem->rss_file);
    lt_json_key(j, "rss_shmem_bytes");
    lt_json_u64(j, mem->rss_shmem);
    lt_json_key(j, "swap_bytes");
    lt_json_u64(j, mem->vm_swap);
    lt_json_key(j, "vm_size_bytes");
    lt_json_u64(j, mem->vm_size);
    lt_json_key(j, "vm_data_bytes");
    lt_json_u64(j, mem->vm_data);
    lt_json_key(j, "python_arenas");
    lt_json_u64(j, mem->py_arenas);
    lt_json_key(j, "python_arena_bytes");
    lt_json_u64(j, mem->py_arena_bytes);
    lt_json_key(j, "python_free_block_bytes");
    lt_json_u64(j, mem->py_free_block_bytes);
    lt_json_key(j, "python_free_pool_bytes");
    lt_json_u64(j, mem->py_free_pool_bytes);
    lt_json_key(j, "native_heap_bytes");
    lt_json_u64(j, mem->heap_arena_bytes);
    lt_json_key(j, "native_mmap_bytes");
    lt_json_u64(j, mem->heap_mmap_bytes);
    lt_json_key(j, "native_releasable_bytes");
    lt_json_u64(j, mem->heap_releasable_bytes);
    lt_json_key(j, "measured");
    lt_json_object(j);
    lt_json_key(j, "pymalloc");
    lt_json_bool(j, b->have_py);
    lt_json_key(j, "malloc");
    lt_json_bool(j, b->have_heap);
    lt_json_key(j, "proc_status");
    lt_json_bool(j, (mem->have & LT_MEM_HAVE_STATUS) != 0);
    lt_json_end_object(j);
    lt_json_key(j, "growth_bytes_per_s");
    lt_json_object(j);
    for (int part = 0; part < LT_PART_COUNT; part++) {
        char key[64];
        snprintf(key, sizeof key, "%s", lt_part_json((lt_part)part));
        char *suffix = strstr(key, "_bytes");
        if (suffix)
            *suffix = '\0';
        lt_json_key(j, key);
        lt_json_double(j, r->part_growth[part]);
    }
    lt_json_end_object(j);
    lt_json_key(j, "pymalloc_read_ms_last");
    lt_json_double(j, mem->py_read_ns / 1e6);
    lt_json_key(j, "pymalloc_read_ms_max");
    lt_json_double(j, r->pymalloc_read_ms_max);
    lt_json_key(j, "pymalloc_age_samples");
    lt_json_u64(j, mem->py_age);
    lt_json_key(j, "pymalloc_age_s");
    lt_json_double(j, r->pymalloc_age_s);
    lt_json_key(j, "malloc_read_ms_max");
    lt_json_double(j, r->malloc_read_ms_max);
    lt_json_key(j, "fragmentation");
    lt_json_bool(j, r->fragmentation.found);
    lt_json_key(j, "fragmentation_reason");
    lt_json_str(j, r->fragmentation.found ? r->fragmentation.reason : "");
    lt_json_end_object(j);
}

void
lt_report_write_json(const lt_report *r, FILE *f)
{
    lt_json j;
    lt_json_init(&j, f, 1);
    lt_json_object(&j);
    lt_json_key(&j, "leaktop_report");
    lt_json_u64(&j, 1);
    lt_json_key(&j, "command");
    lt_json_array(&j);
    for (uint32_t i = 0; i < r->argc; i++)
        lt_json_str(&j, r->command[i]);
    lt_json_end_array(&j);
    lt_json_key(&j, "pid");
    lt_json_u64(&j, r->pid);
    lt_json_key(&j, "python");
    lt_json_str(&j, r->python ? r->python : "");
    lt_json_key(&j, "duration_s");
    lt_json_double(&j, r->duration_s);
    lt_json_key(&j, "samples");
    lt_json_u64(&j, r->samples);

    lt_json_key(&j, "process");
    lt_json_object(&j);
    lt_json_key(&j, "rss_bytes");
    lt_json_u64(&j, r->rss);
    lt_json_key(&j, "rss_peak_bytes");
    lt_json_u64(&j, r->rss_peak);
    lt_json_key(&j, "rss_growth_bytes_per_s");
    lt_json_double(&j, r->rss_growth);
    if (r->have_exit) {
        lt_json_key(&j, "exit_code");
        if (r->exit_signal)
            lt_json_null(&j);
        else
            lt_json_i64(&j, r->exit_code);
        lt_json_key(&j, "exit_signal");
        if (r->exit_signal)
            lt_json_i64(&j, r->exit_signal);
        else
            lt_json_null(&j);
    }
    write_limits(&j, r);
    lt_json_end_object(&j);

    lt_json_key(&j, "heap");
    lt_json_object(&j);
    lt_json_key(&j, "python_bytes_estimate");
    lt_json_u64(&j, r->heap);
    lt_json_key(&j, "growth_bytes_per_s");
    lt_json_double(&j, r->heap_growth);
    lt_json_end_object(&j);

    write_breakdown(&j, r);

    lt_json_key(&j, "agent");
    lt_json_object(&j);
    lt_json_key(&j, "census_ms_last");
    lt_json_double(&j, r->census_ms_last);
    lt_json_key(&j, "census_ms_max");
    lt_json_double(&j, r->census_ms_max);
    lt_json_key(&j, "tracked_objects");
    lt_json_u64(&j, r->tracked);
    lt_json_key(&j, "counts_age_s");
    lt_json_double(&j, r->counts_age_s);
    lt_json_key(&j, "counts_exact");
    lt_json_bool(&j, r->counts_exact);
    lt_json_key(&j, "census_cpu_ms_last");
    lt_json_double(&j, r->census_cpu_ms_last);
    lt_json_key(&j, "census_slices_last");
    lt_json_u64(&j, r->census_slices_last);
    lt_json_key(&j, "census_hold_ms_max");
    lt_json_double(&j, r->census_hold_ms_max);
    lt_json_key(&j, "census_budget");
    lt_json_double(&j, r->census_budget);
    lt_json_key(&j, "agent_bytes");
    lt_json_u64(&j, r->agent_bytes);
    lt_json_key(&j, "sample_interval_bytes");
    lt_json_u64(&j, r->sample_interval_bytes);
    lt_json_key(&j, "agent_bytes_max");
    lt_json_u64(&j, r->agent_bytes_max);
    lt_json_key(&j, "sampled_blocks");
    lt_json_u64(&j, r->live_samples);
    lt_json_key(&j, "sampled_tracebacks");
    lt_json_u64(&j, r->sampled_traces);
    lt_json_key(&j, "dropped_samples");
    lt_json_u64(&j, r->dropped_samples);
    lt_json_key(&j, "evicted_tracebacks");
    lt_json_u64(&j, r->evicted_traces);
    lt_json_end_object(&j);

    lt_json_key(&j, "gc");
    lt_json_object(&j);
    lt_json_key(&j, "enabled");
    lt_json_bool(&j, r->gc_enabled);
    lt_json_key(&j, "collections");
    lt_json_array(&j);
    for (int g = 0; g < 3; g++)
        lt_json_u64(&j, r->gc_collections[g]);
    lt_json_end_array(&j);
    lt_json_key(&j, "uncollectable");
    lt_json_u64(&j, r->gc_uncollectable);
    lt_json_end_object(&j);

    lt_json_key(&j, "types");
    lt_json_array(&j);
    for (uint32_t i = 0; i < r->ntypes; i++) {
        const lt_type_report *t = &r->types[i];
        lt_json_object(&j);
        lt_json_key(&j, "name");
        lt_json_str(&j, t->name);
        lt_json_key(&j, "count");
        lt_json_u64(&j, t->count);
        lt_json_key(&j, "delta");
        lt_json_i64(&j, t->delta);
        lt_json_key(&j, "growth_per_s");
        lt_json_double(&j, t->growth_per_s);
        lt_json_key(&j, "shallow_bytes");
        lt_json_u64(&j, t->bytes);
        /* Additive: the count is the last census's plus the sampler's estimate since. */
        lt_json_key(&j, "estimated");
        lt_json_bool(&j, t->estimated);
        if (t->estimated) {
            lt_json_key(&j, "count_sd");
            lt_json_u64(&j, t->count_sd);
            lt_json_key(&j, "count_unsampled");
            lt_json_u64(&j, t->unsampled);
        }
        lt_json_end_object(&j);
    }
    lt_json_end_array(&j);
    lt_json_key(&j, "sites");
    lt_json_array(&j);
    for (uint32_t i = 0; i < r->nsites; i++) {
        const lt_site_report *st = &r->sites[i];
        lt_json_object(&j);
        lt_json_key(&j, "file");
        lt_json_str(&j, st->file);
        lt_json_key(&j, "line");
        lt_json_u64(&j, st->line);
        lt_json_key(&j, "function");
        lt_json_str(&j, st->function);
        lt_json_key(&j, "live_bytes");
        lt_json_u64(&j, st->live_bytes);
        lt_json_key(&j, "live_count");
        lt_json_u64(&j, st->live_count);
        lt_json_key(&j, "growth_bytes_per_s");
        lt_json_double(&j, st->growth_bytes_per_s);
        lt_json_key(&j, "traceback");
        write_traceback(&j, r->model, st->trace_id);
        lt_json_end_object(&j);
    }
    lt_json_end_array(&j);
    lt_json_key(&j, "findings");
    lt_json_array(&j);
    for (int i = 0; i < r->nleaks; i++)
        write_leak(&j, r, &r->leaks[i]);
    lt_json_end_array(&j);
    lt_json_key(&j, "suspects");
    lt_json_array(&j);
    if (r->tree != NULL)
        for (int i = 0; i < r->tree->nfindings; i++) {
            const lt_finding *fd = &r->tree->findings[i];
            write_suspect(&j, lt_report_tree_owner(r->tree, fd), fd->best, fd);
        }
    else
        for (int i = 0; i < r->nsuspects; i++)
            write_suspect(&j, r, &r->suspects[i], NULL);
    lt_json_end_array(&j);
    if (r->tree != NULL)
        write_processes(&j, r->tree);
    lt_json_end_object(&j);
}
