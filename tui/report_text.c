#include <stdio.h>
/* The check report for a person reading a terminal or a CI log. */
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "report.h"
#include "report_tree.h"

/* The largest allocation sites: "file:line in function", live bytes and blocks, growth. */
static void
write_sites(const lt_report *r, FILE *f)
{
    if (!r->heap_sampled)
        return;
    if (r->nsites == 0) {
        fputs("\n  no live allocation sites sampled\n", f);
        return;
    }
    char a[64], b[64], c[64];
    fprintf(f, "\n  %-44s %10s %10s %12s\n", "TOP ALLOCATION SITES (live, sampled)", "BYTES",
            "BLOCKS", "GROWTH");
    for (uint32_t i = 0; i < r->nsites && i < 10; i++) {
        const lt_site_report *s = &r->sites[i];
        const char *base = strrchr(s->file, '/');
        base = base ? base + 1 : s->file;
        char where[512], shown[160];
        snprintf(where, sizeof where, "%s:%u in %s", base, s->line, s->function);
        lt_fmt_elide(shown, sizeof shown, where, 44, 0);
        fprintf(f, "  %-44s %10s %10s %12s\n", shown, lt_fmt_bytes(a, sizeof a, s->live_bytes),
                lt_fmt_count(b, sizeof b, s->live_count),
                lt_fmt_byte_rate(c, sizeof c, s->growth_bytes_per_s));
    }
}

/* Where the memory goes, the limit that binds first and when it is reached. */
static void
write_memory(const lt_report *r, FILE *f)
{
    char a[64];
    if (r->have_breakdown) {
        fputs("  memory   ", f);
        for (int part = 0; part < LT_PART_COUNT; part++) {
            int64_t v = r->breakdown.part[part];
            if (part == LT_PART_PY_USED && !r->breakdown.have_py)
                continue;
            if (part == LT_PART_PY_FREE && !r->breakdown.have_py)
                continue;
            fprintf(f, "%s %s%s", part ? "," : "", lt_part_short((lt_part)part), v < 0 ? " -" : " ");
            fputs(lt_fmt_bytes(a, sizeof a, (uint64_t)(v < 0 ? -v : v)), f);
        }
        if (r->breakdown.have_py && r->memory != NULL && r->memory->py_age > 0)
            fprintf(f, " (pymalloc read %.1f s ago)", r->pymalloc_age_s);
        fputc('\n', f);
        if (r->fragmentation.found)
            fprintf(f, "  fragmentation: %s\n", r->fragmentation.reason);
    }
    if (r->have_limits) {
        char text[320];
        fprintf(f, "  forecast  %s\n", lt_forecast_describe(&r->forecast, text, sizeof text));
    }
}

/* Names, dict keys and command lines come from the watched program: C0 controls but newline,
 * DEL and C1 (0xC2 0x80-0x9F) are written as \xNN, so a report cannot drive the terminal. */
static void
write_clean(const char *s, size_t n, FILE *f)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F)
            fprintf(f, "\\x%02x", (unsigned char)s[++i]);
        else if ((ch < 0x20 && ch != '\n') || ch == 0x7F)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
}

/* One suspect, numbered i + 1, of model m; where: the processes it was found in, or NULL. */
static void
write_suspect(const lt_model *m, const lt_suspect *s, int i, const char *where, FILE *f)
{
    char shown[160];
    lt_fmt_elide(shown, sizeof shown, s->name, 56, 0);
    fprintf(f, "  %d. [%s] %s  score %.2f\n     %s\n", i + 1, lt_suspect_kind_name(s->kind),
            shown, s->score, s->reason);
    if (where != NULL)
        fprintf(f, "     %s\n", where);
    const lt_model_why *why = s->kind == LT_SUSPECT_TYPE && m
                                  ? lt_model_why_get(m, s->name_id) : NULL;
    if (why != NULL && why->found) {
        fputs("     held by: ", f);
        for (uint32_t k = 0; k < why->nhops; k++)
            fputs(why->hop_text[k], f);
        fputs("  (", f);
        for (uint32_t k = 0; k < why->nhops; k++)
            fprintf(f, "%s%s", k ? " -> " : "", why->hop_type[k]);
        fputs(")\n", f);
    } else if (why != NULL) {
        fprintf(f, "     held by: not found (%s)\n", why->note);
    }
    const lt_model_type_sites *ts = s->kind == LT_SUSPECT_TYPE && m
                                        ? lt_model_type_sites_get(m, s->name_id)
                                        : NULL;
    for (uint32_t k = 0; ts != NULL && k < ts->nrows && k < 3; k++) {
        const lt_model_trace *t = lt_model_trace_get(m, ts->rows[k].trace_id);
        if (t == NULL || t->nframes == 0)
            continue;
        char by[64], n[64];
        fprintf(f, "     %s %s:%u in %s  (%s in ~%s live instances)\n",
                k == 0 ? "allocated at:" : "          and:",
                lt_model_string(m, t->frames[0].file_id), t->frames[0].line,
                lt_model_string(m, t->frames[0].func_id),
                lt_fmt_bytes(by, sizeof by, ts->rows[k].live_bytes),
                lt_fmt_count(n, sizeof n, ts->rows[k].live_count));
    }
    if (ts != NULL && ts->nrows == 0 && ts->note[0])
        fprintf(f, "     allocated at: not known (%s)\n", ts->note);
}

/* A program of several processes: each process, then the findings merged over them. */
static void
write_tree(const lt_report_tree *t, FILE *f)
{
    char a[64], b[64];
    fprintf(f, "\n  %-8s %-8s %-17s %9s %12s %8s  %s\n", "PID", "PPID", "ROLE", "RSS", "GROWTH",
            "SAMPLES", "SUSPECTS");
    uint64_t rss = 0;
    double growth = 0;
    for (int i = 0; i < t->nprocs; i++) {
        const lt_report_proc *p = &t->procs[i];
        fprintf(f, "  %-8ld %-8ld %-17s %9s %12s %8u  %d%s\n", (long)p->pid, (long)p->ppid,
                p->role, lt_fmt_bytes(a, sizeof a, p->report->rss),
                lt_fmt_byte_rate(b, sizeof b, p->report->rss_growth), p->report->samples,
                p->report->nsuspects, p->gone ? " (ended)" : "");
        rss += p->report->rss;
        growth += p->report->rss_growth;
    }
    fprintf(f, "  %-35s %9s %12s\n", "all of them", lt_fmt_bytes(a, sizeof a, rss),
            lt_fmt_byte_rate(b, sizeof b, growth));
    if (t->nfindings == 0) {
        fprintf(f, "\n  no leak suspects in any of the %d processes: nothing grew steadily "
                   "without levelling off\n", t->nprocs);
        return;
    }
    fprintf(f, "\n  LEAK SUSPECTS over the %d processes (in the most processes first)\n",
            t->nprocs);
    for (int i = 0; i < t->nfindings; i++) {
        const lt_finding *fd = &t->findings[i];
        char where[64], pids[512];
        size_t len = 0;
        int nworkers = 0;
        for (int k = 1; k < t->nprocs; k++)
            nworkers += strcmp(t->procs[k].role, "worker") == 0;
        lt_finding_where(fd, t->procs[0].pid, nworkers, t->nprocs, where, sizeof where);
        int listed = strncmp(where, "in pid ", 7) != 0;
        len += (size_t)snprintf(pids, sizeof pids, "%s%s", where,
                                listed ? (fd->nprocs > 1 ? ": pids" : ": pid") : "");
        for (int k = 0; listed && k < fd->nprocs && k < LT_FINDING_MAX_PIDS && len < sizeof pids;
             k++)
            len += (size_t)snprintf(pids + len, sizeof pids - len, " %ld", (long)fd->pids[k]);
        write_suspect(lt_report_tree_owner(t, fd)->model, fd->best, i, pids, f);
    }
}

/* The findings first: one sentence each, how sure and why, what it groups. */
static void
write_leaks(const lt_report *r, FILE *f)
{
    if (r->nleaks == 0)
        return;
    fprintf(f, "  LEAKS FOUND (most likely first)\n");
    for (int i = 0; i < r->nleaks; i++) {
        const lt_leak *x = &r->leaks[i];
        fprintf(f, "  %d. %s\n     score %.2f: %s\n", i + 1, x->sentence, x->score,
                x->score_why);
        if (x->have_site && r->model != NULL)
            fprintf(f, "     at %s:%u%s\n", lt_model_string(r->model, x->file_id), x->line,
                    x->lib_frames ? " (library frames folded; the traceback has them)" : "");
        if (x->nparts > 1) {
            fputs("     groups:", f);
            for (int k = 0; k < x->nparts; k++)
                fprintf(f, "%s [%s] %s", k ? "," : "",
                        lt_suspect_kind_name(r->suspects[x->parts[k]].kind),
                        r->suspects[x->parts[k]].name);
            fputs("\n", f);
        }
    }
    fputs("\n", f);
}

static void write_text(const lt_report *r, FILE *f);

void
lt_report_write_text(const lt_report *r, FILE *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL) {
        fputs("leaktop: out of memory writing the report\n", f);
        return;
    }
    write_text(r, m);
    fclose(m);
    write_clean(buf, len, f);
    free(buf);
}

static void
write_text(const lt_report *r, FILE *f)
{
    char a[64], b[64], c[64], d[64];
    fprintf(f, "leaktop check: pid %u,", r->pid);
    for (uint32_t i = 0; i < r->argc && i < 8; i++)
        fprintf(f, " %s", r->command[i]);
    if (r->argc > 8)
        fputs(" ...", f);
    fprintf(f, "\n  Python %s, watched %.1f s, %u samples", r->python ? r->python : "?",
            r->duration_s, r->samples);
    if (r->ended)
        fprintf(f, "; %s", r->ended);
    fputs("\n\n", f);
    write_leaks(r, f);
    fprintf(f, "  process   RSS %s (peak %s), %s\n", lt_fmt_bytes(a, sizeof a, r->rss),
            lt_fmt_bytes(b, sizeof b, r->rss_peak), lt_fmt_byte_rate(c, sizeof c, r->rss_growth));
    write_memory(r, f);
    if (r->heap_sampled)
        fprintf(f, "  heap      ~%s live (sampled every %s), %s; %s in GC-tracked objects\n",
                lt_fmt_bytes(a, sizeof a, r->heap), lt_fmt_bytes(d, sizeof d,
                                                                r->sample_interval_bytes),
                lt_fmt_byte_rate(b, sizeof b, r->heap_growth),
                lt_fmt_bytes(c, sizeof c, r->heap_gc));
    else
        fprintf(f, "  heap      %s in GC-tracked objects, %s\n", lt_fmt_bytes(a, sizeof a, r->heap),
                lt_fmt_byte_rate(b, sizeof b, r->heap_growth));
    fprintf(f, "  gc        %s, collections %llu/%llu/%llu, uncollectable %llu\n",
            r->gc_enabled ? "enabled" : "DISABLED", (unsigned long long)r->gc_collections[0],
            (unsigned long long)r->gc_collections[1], (unsigned long long)r->gc_collections[2],
            (unsigned long long)r->gc_uncollectable);
    fprintf(f, "  agent     census %.2f ms (max %.2f ms) over %s objects, agent memory %s\n",
            r->census_ms_last, r->census_ms_max, lt_fmt_count(a, sizeof a, r->tracked),
            lt_fmt_bytes(b, sizeof b, r->agent_bytes));
    if (r->census_slices_last > 0)
        fprintf(f, "  census    in %u slices, longest hold of the GIL %.2f ms, CPU %.2f ms "
                   "(budget %.2g%% of a core)\n",
                r->census_slices_last, r->census_hold_ms_max, r->census_cpu_ms_last,
                r->census_budget * 100.0);
    if (r->counts_age_s > 0)
        fprintf(f, "  counts    %s old%s: the census is spaced out to stay within its budget\n",
                lt_fmt_duration(c, sizeof c, r->counts_age_s),
                r->counts_exact ? "" : ", not exact");
    else if (!r->counts_exact)
        fputs("  counts    not exact: collections kept moving the walk\n", f);
    fputc('\n', f);
    if (r->ntypes == 0) {
        fputs("  no GC-tracked objects reported\n", f);
    } else {
        int any_est = 0;
        fprintf(f, "  %-36s %12s %10s %10s %10s\n", "TYPE (by growth)", "COUNT", "DELTA", "PER S",
                "BYTES");
        for (uint32_t i = 0; i < r->ntypes && i < 15; i++) {
            const lt_type_report *t = &r->types[i];
            char shown[160];
            lt_fmt_elide(shown, sizeof shown, t->name, 36, 0);
            char cnt[72];
            snprintf(cnt, sizeof cnt, "%s%s", t->estimated ? "~" : "",
                     lt_fmt_count(a, sizeof a, t->count));
            fprintf(f, "  %-36s %12s %10s %10.1f %10s\n", shown, cnt,
                    lt_fmt_delta(b, sizeof b, t->delta), t->growth_per_s,
                    lt_fmt_bytes(d, sizeof d, t->bytes));
            any_est |= t->estimated;
        }
        if (any_est)
            fputs("  (~: estimated since the last census: the objects that arrived since "
                  "counted, those that died sampled)\n", f);
    }
    write_sites(r, f);
    (void)c;
    if (r->tree != NULL) {
        write_tree(r->tree, f);
        return;
    }
    if (r->nsuspects == 0) {
        fputs("\n  no leak suspects: nothing grew steadily without levelling off\n", f);
        return;
    }
    fprintf(f, "\n  LEAK SUSPECTS (most likely first)\n");
    for (int i = 0; i < r->nsuspects; i++)
        write_suspect(r->model, &r->suspects[i], i, NULL, f);
}
