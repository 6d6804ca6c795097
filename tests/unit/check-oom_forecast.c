/* tui/oom_forecast.c: the slope and its error, which limit binds first, the range, and no
 * forecast at all for memory that is flat or falling. */
#define _GNU_SOURCE
#include <math.h>
#include <string.h>

#include "harness.h"
#include "leaktop/mem.h"
#include "tui/oom_forecast.h"

#define MiB (1024.0 * 1024.0)
#define GiB (1024.0 * MiB)
#define N 60

static double t_[N], rss_[N], vms_[N], vmd_[N];

/* A wobble that averages to zero over every 4 points: noise with a known shape. */
static double
wobble(int i, double amp)
{
    static const double w[] = {1, -1, -1, 1};
    return amp * w[i % 4];
}

/* N points a second apart ending at 0: rss and vm_size grow at their rates from 1 GiB. */
static void
fill(double rss_rate, double vms_rate, double noise)
{
    for (int i = 0; i < N; i++) {
        t_[i] = i - (N - 1);
        rss_[i] = GiB + rss_rate * i + wobble(i, noise);
        vms_[i] = 2 * GiB + vms_rate * i + wobble(i + 1, noise);
        vmd_[i] = GiB;
    }
}

static void
series(lt_forecast_series s[3], uint32_t n)
{
    s[LT_FIGURE_RSS] = (lt_forecast_series){t_ + N - n, rss_ + N - n, n};
    s[LT_FIGURE_VM_SIZE] = (lt_forecast_series){t_ + N - n, vms_ + N - n, n};
    s[LT_FIGURE_VM_DATA] = (lt_forecast_series){t_ + N - n, vmd_ + N - n, n};
}

static void
add(lt_limits *l, const char *source, double limit, double usage, lt_limit_figure fig)
{
    lt_limit *x = &l->limits[l->nlimits++];
    memset(x, 0, sizeof *x);
    snprintf(x->source, sizeof x->source, "%s", source);
    x->limit = (uint64_t)limit;
    x->usage = (uint64_t)usage;
    x->figure = fig;
}

START_TEST(test_fit_exact_and_noisy)
{
    double slope, se;
    fill(3 * MiB, 0, 0);
    ck_assert_int_eq(lt_forecast_fit(t_, rss_, N, &slope, &se), 0);
    ck_assert_double_eq_tol(slope, 3 * MiB, 1e-6);
    ck_assert_double_eq_tol(se, 0, 1e-3);
    /* With noise of +-1 MiB: the slope stays near, its error is what least squares says. */
    fill(3 * MiB, 0, 1 * MiB);
    ck_assert_int_eq(lt_forecast_fit(t_, rss_, N, &slope, &se), 0);
    ck_assert_double_eq_tol(slope, 3 * MiB, 0.01 * MiB);
    double stt = 0, mt = -(N - 1) / 2.0;
    for (int i = 0; i < N; i++)
        stt += (t_[i] - mt) * (t_[i] - mt);
    /* residuals are about +-1 MiB: se ~ sqrt(N / (N-2) / stt) MiB */
    ck_assert_double_eq_tol(se, sqrt((double)N / (N - 2) / stt) * MiB, 0.05 * MiB);
    ck_assert_int_eq(lt_forecast_fit(t_, rss_, 1, &slope, &se), -1);
    double same_t[3] = {1, 1, 1};
    ck_assert_int_eq(lt_forecast_fit(same_t, rss_, 3, &slope, &se), -1);
}
END_TEST

/* The address space grows faster toward a nearer limit: RLIMIT_AS binds before MemAvailable. */
START_TEST(test_binding_limit_is_reached_first)
{
    lt_limits l;
    memset(&l, 0, sizeof l);
    add(&l, "MemAvailable", 4 * GiB, GiB + 59 * MiB, LT_FIGURE_RSS);
    add(&l, "RLIMIT_AS", 3 * GiB, 2 * GiB + 118 * MiB, LT_FIGURE_VM_SIZE);
    add(&l, "cgroup v2 memory.max", 8 * GiB, 5 * GiB, LT_FIGURE_RSS);
    fill(1 * MiB, 2 * MiB, 0);
    lt_forecast_series s[3];
    series(s, N);
    lt_forecast f;
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.have_limit, 1);
    ck_assert_int_eq(f.growing, 1);
    ck_assert_str_eq(f.limit.source, "RLIMIT_AS");
    ck_assert_double_eq_tol(f.headroom, 1 * GiB - 118 * MiB, 1);
    ck_assert_double_eq_tol(f.growth, 2 * MiB, 1);
    ck_assert_double_eq_tol(f.eta_s, (1024.0 - 118) / 2, 0.01);
    ck_assert_double_eq_tol(f.eta_low_s, f.eta_s, 0.01); /* an exact line: no spread */
    ck_assert_double_eq_tol(f.eta_high_s, f.eta_s, 0.01);
    ck_assert_uint_eq(f.points, N);
    ck_assert_double_eq_tol(f.window_s, N - 1, 1e-9);
    char text[256];
    lt_forecast_describe(&f, text, sizeof text);
    ck_assert_msg(strstr(text, "at +2") && strstr(text, "RLIMIT_AS") && strstr(text, "7 min"),
                  "%s", text);
    /* The RSS grows faster instead: the cgroup (3 GiB to go) is reached before MemAvailable
     * (2.9 GiB to go, but at the same rate... it is nearer) */
    fill(10 * MiB, 0, 0);
    series(s, N);
    lt_forecast_make(&l, s, &f);
    ck_assert_str_eq(f.limit.source, "MemAvailable");
    ck_assert_double_eq_tol(f.eta_s, (3 * GiB - 59 * MiB) / (10 * MiB), 0.01);
}
END_TEST

/* Noise widens the range around the same estimate; the truth is inside it. */
START_TEST(test_range_from_the_slope_error)
{
    lt_limits l;
    memset(&l, 0, sizeof l);
    add(&l, "RLIMIT_AS", 3 * GiB, 2 * GiB + 118 * MiB, LT_FIGURE_VM_SIZE);
    fill(0, 2 * MiB, 8 * MiB);
    lt_forecast_series s[3];
    series(s, N);
    lt_forecast f;
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.growing, 1);
    double truth = (1024.0 - 118) / 2;
    ck_assert_double_lt(f.eta_low_s, truth);
    ck_assert_double_gt(f.eta_high_s, truth);
    ck_assert_double_lt(f.eta_low_s, f.eta_s);
    ck_assert_double_gt(f.eta_high_s, f.eta_s);
    ck_assert_double_gt(f.growth_se, 0);
    /* So much noise that no growth is inside the interval: the slow end is never. */
    fill(0, 2 * MiB, 200 * MiB);
    series(s, 8);
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.growing, 0);
}
END_TEST

/* Flat, falling, a rise too small to matter, too few points: no forecast, only the limit with
 * the least headroom. */
START_TEST(test_nothing_when_flat_or_falling)
{
    lt_limits l;
    memset(&l, 0, sizeof l);
    add(&l, "MemAvailable", 4 * GiB, GiB, LT_FIGURE_RSS);
    add(&l, "cgroup v1 memory.limit_in_bytes", 2 * GiB, 1.5 * GiB, LT_FIGURE_RSS);
    lt_forecast_series s[3];
    lt_forecast f;
    static const double rates[] = {0, -1 * MiB, 1000.0};
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        fill(rates[k], rates[k], 0);
        series(s, N);
        lt_forecast_make(&l, s, &f);
        ck_assert_int_eq(f.have_limit, 1);
        ck_assert_int_eq(f.growing, 0);
        ck_assert(isinf(f.eta_s));
        ck_assert_str_eq(f.limit.source, "cgroup v1 memory.limit_in_bytes");
        ck_assert_double_eq_tol(f.headroom, 0.5 * GiB, 1);
    }
    fill(5 * MiB, 5 * MiB, 0);
    series(s, LT_FORECAST_MIN_POINTS - 1);
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.growing, 0);
    char text[256];
    lt_forecast_describe(&f, text, sizeof text);
    ck_assert_msg(strstr(text, "not growing") && strstr(text, "512 MiB"), "%s", text);
    /* No limit at all. */
    memset(&l, 0, sizeof l);
    series(s, N);
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.have_limit, 0);
    lt_forecast_describe(&f, text, sizeof text);
    ck_assert_str_eq(text, "no memory limit known");
}
END_TEST

/* Already at the limit (memory.high exceeded): no time left. A year away: no forecast. */
START_TEST(test_over_the_limit_and_far_away)
{
    lt_limits l;
    memset(&l, 0, sizeof l);
    add(&l, "cgroup v2 memory.high", GiB, 1.2 * GiB, LT_FIGURE_RSS);
    fill(2 * MiB, 0, 0);
    lt_forecast_series s[3];
    series(s, N);
    lt_forecast f;
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.growing, 1);
    ck_assert_double_eq(f.headroom, 0);
    ck_assert_double_eq(f.eta_s, 0);
    memset(&l, 0, sizeof l);
    add(&l, "MemAvailable", 1e15, 0, LT_FIGURE_RSS);
    lt_forecast_make(&l, s, &f);
    ck_assert_int_eq(f.growing, 0);
}
END_TEST

/* From the model: RSS from SAMPLE, VmSize from MEMORY, over the last two minutes only. */
START_TEST(test_from_model)
{
    lt_model m;
    ck_assert_int_eq(lt_model_init(&m, 512), 0);
    char *cause = NULL;
    lt_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = LT_FRAME_HELLO;
    msg.u.hello.major = LT_PROTO_MAJOR;
    msg.u.hello.python_version = msg.u.hello.agent_version = msg.u.hello.executable = "";
    ck_assert_int_eq(lt_model_apply(&m, &msg, &cause), 0);
    for (uint32_t i = 0; i < 300; i++) {
        memset(&msg, 0, sizeof msg);
        msg.type = LT_FRAME_SAMPLE;
        msg.u.sample.seq = i;
        msg.u.sample.mono_ns = (uint64_t)i * 1000000000u;
        msg.u.sample.rss_bytes = (uint64_t)GiB; /* flat */
        ck_assert_int_eq(lt_model_apply(&m, &msg, &cause), 0);
        memset(&msg, 0, sizeof msg);
        msg.type = LT_FRAME_MEMORY;
        msg.u.memory.seq = i;
        msg.u.memory.have = LT_MEM_HAVE_STATUS;
        /* VmSize fell for 179 s, then grows 1 MiB/s: only the recent rise counts. */
        msg.u.memory.vm_size = (uint64_t)(2 * GiB + (i < 179 ? -(double)i : (double)i - 360) * MiB);
        ck_assert_int_eq(lt_model_apply(&m, &msg, &cause), 0);
    }
    lt_limits l;
    memset(&l, 0, sizeof l);
    add(&l, "RLIMIT_AS", 3 * GiB, 2 * GiB - 61 * MiB, LT_FIGURE_VM_SIZE);
    add(&l, "MemAvailable", 2 * GiB, GiB, LT_FIGURE_RSS);
    lt_forecast f;
    lt_forecast_from_model(&m, 0, m.n, &l, &f);
    ck_assert_int_eq(f.growing, 1);
    ck_assert_str_eq(f.limit.source, "RLIMIT_AS");
    ck_assert_double_eq_tol(f.growth, MiB, 1);
    ck_assert_uint_eq(f.points, 121);
    ck_assert_double_eq_tol(f.eta_s, 1085, 0.01);
    lt_model_free(&m);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("oom_forecast");
    TCase *tc = lt_test_tcase(s, "forecast");
    tcase_add_test(tc, test_fit_exact_and_noisy);
    tcase_add_test(tc, test_binding_limit_is_reached_first);
    tcase_add_test(tc, test_range_from_the_slope_error);
    tcase_add_test(tc, test_nothing_when_flat_or_falling);
    tcase_add_test(tc, test_over_the_limit_and_far_away);
    tcase_add_test(tc, test_from_model);
    return lt_test_run(s);
}
