/*
 * When does the process run out: the limit that binds first (mem_limits.h) and the time until
 * the figure it binds gets there at the recent rate, with a range from the rate's standard
 * error. Nothing is forecast for memory that is flat or falling. Pure arithmetic over series;
 * lt_forecast_from_model takes them from the viewer's model.
 */
#ifndef LEAKTOP_OOM_FORECAST_H
#define LEAKTOP_OOM_FORECAST_H

#include <stdint.h>

#include "mem_limits.h"
#include "model.h"

#define LT_FORECAST_WINDOW_S 120.0   /* "recent": the last two minutes of points */
#define LT_FORECAST_MIN_POINTS 5
#define LT_FORECAST_MIN_GAIN (1u << 20) /* growth over the window below a MiB is flat */
#define LT_FORECAST_MAX_S (365.0 * 86400.0) /* further than a year is no forecast */

/* Points of one figure: times in seconds, values in bytes. */
typedef struct lt_forecast_series {
    const double *t, *v;
    uint32_t n;
} lt_forecast_series;

typedef struct lt_forecast {
    int have_limit;       /* some limit is known: limit below is the binding one */
    lt_limit limit;
    double headroom;      /* limit - usage, 0 when already at or over it */
    double growth;        /* bytes per second of its figure, least squares over the window */
    double growth_se;     /* the standard error of that slope */
    uint32_t points;      /* in the window */
    double window_s;
    int growing;          /* growth is clearly above zero: the eta fields are meaningful */
    double eta_s;         /* headroom / growth, from when the limits were read */
    double eta_low_s;     /* at the fast end of the 95% interval of the growth */
    double eta_high_s;    /* at the slow end; INFINITY when zero growth is inside the interval */
} lt_forecast;

/* Least squares over n points: slope and its standard error (0 with fewer than 3 points or
 * an exact fit). Returns 0, or -1 with fewer than 2 points or constant t. */
int lt_forecast_fit(const double *t, const double *v, uint32_t n, double *slope, double *se);

/* The forecast against every limit of l, each figure's growth from series[figure] (indexed by
 * lt_limit_figure). The binding limit is the one reached first at the current rates; when
 * nothing grows, the one with the least headroom. */
void lt_forecast_make(const lt_limits *l, const lt_forecast_series series[3], lt_forecast *out);

/* The same over the model's points [first, end): each figure's series over the last
 * LT_FORECAST_WINDOW_S (RSS from SAMPLE, VmSize and VmData from MEMORY). */
void lt_forecast_from_model(const lt_model *m, uint32_t first, uint32_t end, const lt_limits *l,
                            lt_forecast *out);

/* "at +1.2 MiB/s this process reaches its 2.00 GiB cgroup v2 memory.max in about 3 h 10 min
 * (2 h 50 min to 3 h 40 min)", or what the limit is when nothing grows. Returns out. */
char *lt_forecast_describe(const lt_forecast *f, char *out, size_t len);

#endif
