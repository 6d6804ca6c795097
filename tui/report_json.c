/* The check report as the JSON object of ../shared/spec/contracts.md ("leaktop_report": 1). */
#include "json_writer.h"
#include "report.h"

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

static void
write_suspect(lt_json *j, const lt_report *r, const lt_suspect *s)
{
    int site = s->kind == LT_SUSPECT_SITE;
    lt_json_object(j);
    lt_json_key(j, "kind");
    lt_json_str(j, lt_suspect_kind_name(s->kind));
    lt_json_key(j, "name");
    lt_json_str(j, s->name);
    lt_json_key(j, "file");
    lt_json_str(j, site && r->model ? lt_model_string(r->model, s->file_id) : "");
    lt_json_key(j, "line");
    lt_json_u64(j, site ? s->line : 0);
    lt_json_key(j, "traceback");
    if (site)
        write_traceback(j, r->model, s->trace_id);
    else {
        lt_json_array(j);
        lt_json_end_array(j);
    }
    lt_json_key(j, "score");
    lt_json_double(j, s->score);
    lt_json_key(j, "growth_bytes_per_s");
    lt_json_double(j, s->growth_bytes_per_s);
    lt_json_key(j, "reason");
    lt_json_str(j, s->reason);
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
    lt_json_end_object(&j);

    lt_json_key(&j, "heap");
    lt_json_object(&j);
    lt_json_key(&j, "python_bytes_estimate");
    lt_json_u64(&j, r->heap);
    lt_json_key(&j, "growth_bytes_per_s");
    lt_json_double(&j, r->heap_growth);
    lt_json_end_object(&j);

    lt_json_key(&j, "agent");
    lt_json_object(&j);
    lt_json_key(&j, "census_ms_last");
    lt_json_double(&j, r->census_ms_last);
    lt_json_key(&j, "census_ms_max");
    lt_json_double(&j, r->census_ms_max);
    lt_json_key(&j, "tracked_objects");
    lt_json_u64(&j, r->tracked);
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
    lt_json_key(&j, "suspects");
    lt_json_array(&j);
    for (int i = 0; i < r->nsuspects; i++)
        write_suspect(&j, r, &r->suspects[i]);
    lt_json_end_array(&j);
    lt_json_end_object(&j);
}
