/*
 * The compiled body of a wave step: every row of a wave through the default pipeline, in one loop.
 *
 * step_rows() is DeviceModel.step (consumer/detection/device/model.py) for one reading of each of
 * a wave's devices, reading and writing the fleet bank's arrays in place: impute, track flatlines and
 * the seen range (novelty, with a young device's wider tolerance), score every metric with the context
 * detector, calibrate each metric (young: a t tail; bridging: the young reference; mature) and combine
 * (Sidak) with the relation test's tail when the device has one (stepped before, by relation_rows in
 * relation_kernel.c), decide (during the warm-up, only gross outliers), learn unless protected (once
 * mature; a protected anomaly widens the range by at most grow ranges).
 * consumer/detection/fleet/wave_step.py calls it and documents the arguments;
 * consumer/detection/fleet/wave_numpy.py is the same step in numpy, used when this module was not built.
 *
 * Counters are rounded to float32 where the scalar path stores them, ring sums run left to right,
 * and erfc, expm1, log1p and log10 come from the C library, as Python's math module takes them
 * (wave_kernel.h: bit-identity and bounds). tests/detection/fleet/test_bank.py checks the identity.
 */
#include "wave_kernel.h"

/* float64 fields (floats[field, slot, metric]), as consumer/detection/fleet/layout.py numbers them */
enum { P_IMP_MEAN, P_LO, P_HI, P_LAST, P_EXCESS, D_LO, D_HI, L_TOTAL, L_MEAN, L_VAR, L_REF_MEAN, L_REF_VAR,
       FLOAT_FIELDS };
/* int64 fields (ints[field, slot, metric]) */
enum { P_IMP_COUNT, P_RUN, P_LONGEST, D_N, D_HISTORY, L_SEEN, L_N, L_POS, L_SIZE, L_REF_N, INT_FIELDS };
/* the integer parameters, in the order wave_step._shape packs them */
enum { S_BINS, S_WIDTH, S_ORDER, S_COLUMNS, S_COUNT_CELLS, S_TOTAL_CELLS, S_SPAN, S_CAP, S_SHORT,
       S_HORIZON, S_GRACE, S_WARMUP, S_PROTECT, S_DEDUPE, S_RECORD, S_FLAT_MIN_RUN, S_FLAT_FACTOR,
       S_COLD_MIN, S_MATURE, S_START, SHAPE_FIELDS };
/* the float parameters, in the order wave_step._knobs packs them */
enum { K_SHARP, K_NOVELTY, K_TOLERANCE, K_GROW, K_REACH, K_THRESHOLD, K_YOUTH, K_RECORD_RATE, K_RECORD_SCALE,
       K_MEAN_FLOOR, K_VAR_FLOOR, K_RED_ZONE, K_YELLOW_ZONE, K_LOG_FLOOR, K_SQRT2, KNOB_FIELDS };

enum { A_FLOATS, A_INTS, A_RING, A_COUNTS, A_TOTALS, A_SEEN, A_PREV_RED, A_NOVEL_OF, A_SLOTS, A_GIVEN,
       A_SHAPE, A_KNOBS, A_WRITTEN_COUNTS, A_WRITTEN_TOTALS, A_SCORES, A_RAWS, A_ANOMALOUS, A_WARMING,
       A_NOVEL, A_SURPRISE, A_EXTRA, A_LED, ARGS };
static const char *const NAMES[ARGS] = {
    "floats", "ints", "ring", "counts", "totals", "seen", "prev_red", "novel_of", "slots", "given",
    "shape", "knobs", "written_counts", "written_totals", "scores", "raws", "anomalous", "warming",
    "novel", "surprise", "extra", "led"};
/* the item size each argument must have (float64 and int64: 8, float32: 4, bool: 1) */
static const Py_ssize_t ITEMSIZE[ARGS] = {8, 8, 8, 4, 4, 8, 1, 1, 8, 8, 8, 8, 8, 8, 8, 8, 1, 1, 1, 8, 8, 1};

typedef struct {
    double *floats, *ring, *given, *knobs, *scores, *raws, *surprise, *extra;
    int64_t *ints, *seen, *slots, *shape, *written_counts, *written_totals;
    float *counts, *totals;
    char *prev_red, *novel_of, *anomalous, *warming, *novel, *led;
    Py_ssize_t length[ARGS]; /* in items */
} Arrays;

typedef struct {
    int64_t bins, width, order, columns, count_cells, total_cells, span, cap, short_, horizon, grace;
    int64_t warmup, flat_min_run, flat_factor, cold_min, mature, start;
    int protect, dedupe, record;
    double sharp, novelty, tolerance, grow, reach, threshold, youth, mean_floor, var_floor, red_zone, yellow_zone;
    double log_floor, sqrt2, record_rate, record_scale;
    Py_ssize_t slots_allocated; /* rows of the bank's arrays */
    Py_ssize_t cells;           /* slots_allocated * columns */
} Params;

#define F(field, cell) (a->floats[(Py_ssize_t)(field) * p->cells + (cell)])
#define I(field, cell) (a->ints[(Py_ssize_t)(field) * p->cells + (cell)])

static int64_t bin_of(double x, double lo, double hi, int64_t bins) {
    if (hi > lo) {
        double position = (x - lo) / (hi - lo) * (double)bins;
        if (position >= 0.0) return (int64_t)(position < (double)bins ? position : (double)bins);
    }
    return 0;
}

/* ContextDetector.contributions of one (slot, metric) cell; -1.0 when its context is out of range */
static double surprise_of(const Arrays *a, const Params *p, Py_ssize_t cell, double x) {
    if (I(D_N, cell) <= p->order) return 0.0;
    int64_t history = I(D_HISTORY, cell);
    if (history < 0 || history >= p->span) return -1.0;
    double channel_total = (double)a->totals[cell * p->total_cells + history];
    if (channel_total <= 0.0) return 1.0;
    Py_ssize_t key = cell * p->count_cells + history * p->width + bin_of(x, F(D_LO, cell), F(D_HI, cell), p->bins) + 1;
    double near = (double)a->counts[key] + 0.5 * ((double)a->counts[key - 1] + (double)a->counts[key + 1]);
    double rest = 1.0 - p->sharp * near / channel_total;
    return rest > 0.0 ? rest : 0.0;
}

/* One row (one device's reading); 0, or -1 with an exception set. */
static int step_row(const Arrays *a, const Params *p, Py_ssize_t r, Py_ssize_t metrics, double *value, double *zs,
                    double *before_lo, double *before_hi, Py_ssize_t *written, Py_ssize_t *totals_written) {
    int64_t s = a->slots[r];
    if (s < 0 || s >= p->slots_allocated) return wave_kernel_corrupt("slot");
    Py_ssize_t base = (Py_ssize_t)s * p->columns;
    const double *given = a->given + r * metrics;
    double *surprise = a->surprise + r * metrics;
    /* --- preprocess: impute, flatlines, the seen range (a glitch, more than reach ranges beyond
       it, winsorised to grow ranges beyond it), and the imputer learns the value as the range did */
    int row_novel = 0, row_gross = 0; /* gross: some metric more than reach ranges out (cold start) */
    int64_t device_seen = a->seen[s] + 1;
    double tolerance = -1.0; /* computed when a value first leaves its range (never negative) */
    for (Py_ssize_t i = 0; i < metrics; i++) {
        Py_ssize_t c = base + i;
        double g = given[i];
        int present = !isnan(g);
        double imp_mean = F(P_IMP_MEAN, c);
        int64_t imp_count = I(P_IMP_COUNT, c) + (present ? 1 : 0);
        I(P_IMP_COUNT, c) = imp_count;
        double last = F(P_LAST, c);
        int64_t run = I(P_RUN, c), longest = I(P_LONGEST, c);
        int same = g == last;
        double v = present ? g : imp_mean;
        int changed = present && !same;
        int64_t run_next = same ? run + 1 : (changed ? 1 : run);
        int64_t flat_at = p->flat_factor * longest + 1;
        if (flat_at < p->flat_min_run) flat_at = p->flat_min_run;
        int flat = p->novelty > 0.0 && same && run_next >= p->flat_min_run && run_next == flat_at;
        if (changed && run > longest) I(P_LONGEST, c) = run;
        if (changed) F(P_LAST, c) = g;
        I(P_RUN, c) = run_next;
        double lo = F(P_LO, c), hi = F(P_HI, c);
        int below = v < lo, above = v > hi;
        double excess = NAN;
        before_lo[i] = NAN; /* the range before this reading, where it widens a known range */
        if (flat) {
            excess = 1.0;
            if (excess > p->reach) row_gross = 1;
        }
        if ((below || above) && hi > lo) {
            double spread = hi - lo;
            before_lo[i] = lo, before_hi[i] = hi;
            if (p->novelty > 0.0) {
                if (tolerance < 0.0)
                    tolerance = seen_tolerance(p->tolerance, p->youth, p->novelty, p->record_rate,
                                               p->record_scale, metrics, device_seen);
                if (above && v > hi + tolerance * spread) {
                    excess = (v - hi) / spread;
                    row_novel = 1;
                    if (excess > p->reach) row_gross = 1;
                } else if (below && v < lo - tolerance * spread) {
                    excess = (lo - v) / spread;
                    row_novel = 1;
                    if (excess > p->reach) row_gross = 1;
                }
            }
            if (p->grow > 0.0) {
                if (below) {
                    double edge = lo - p->grow * spread;
                    if (v < lo - p->reach * spread && v < edge) v = edge;
                } else {
                    double edge = hi + p->grow * spread;
                    if (v > hi + p->reach * spread && v > edge) v = edge;
                }
            }
        }
        if (below) F(P_LO, c) = v;
        if (above) F(P_HI, c) = v;
        F(P_EXCESS, c) = excess;
        if (present) F(P_IMP_MEAN, c) = imp_mean + (v - imp_mean) / (double)imp_count;
        row_novel = row_novel || flat;
        value[i] = v;
    }
    /* --- score every metric with the context detector; the raw score is the largest */
    double raw = 0.0;
    for (Py_ssize_t i = 0; i < metrics; i++) {
        double contribution = surprise_of(a, p, base + i, value[i]);
        if (contribution < 0.0) return wave_kernel_corrupt("context");
        surprise[i] = contribution;
        if (i == 0 || contribution > raw) raw = contribution;
    }
    a->raws[r] = raw;
    /* --- calibrate each metric (AnomalyLikelihood) */
    double top = -INFINITY;
    for (Py_ssize_t i = 0; i < metrics; i++) {
        Py_ssize_t c = base + i;
        int64_t seen = I(L_SEEN, c) + 1;
        I(L_SEEN, c) = seen;
        zs[i] = NAN;
        if (seen <= p->start) continue;
        /* at grace + 1 the young statistics are kept as the reference, then dropped: mature afresh */
        if (seen == p->grace + 1 && p->start < p->grace)
            I(L_REF_N, c) = I(L_N, c), F(L_REF_MEAN, c) = F(L_MEAN, c), F(L_REF_VAR, c) = F(L_VAR, c),
            I(L_SIZE, c) = I(L_POS, c) = I(L_N, c) = 0, F(L_TOTAL, c) = F(L_MEAN, c) = F(L_VAR, c) = 0.0;
        int64_t size = I(L_SIZE, c), pos = I(L_POS, c);
        if (size < 0 || size > p->short_ || pos < 0 || pos >= p->short_) return wave_kernel_corrupt("ring position");
        double total = F(L_TOTAL, c), x = surprise[i], new_total;
        int64_t new_size = size, new_pos = pos;
        int wrap = 0;
        if (size < p->short_) {
            a->ring[(Py_ssize_t)size * p->cells + c] = x;
            new_total = total + x;
            new_size = size + 1;
        } else {
            double replaced = a->ring[(Py_ssize_t)pos * p->cells + c];
            a->ring[(Py_ssize_t)pos * p->cells + c] = x;
            new_total = total + x - replaced;
            wrap = pos + 1 == size;
            new_pos = wrap ? 0 : pos + 1;
        }
        if (wrap) { /* the sum afresh, left to right (ring_sum) */
            double exact = 0.0;
            for (int64_t j = 0; j < p->short_; j++) exact = exact + a->ring[(Py_ssize_t)j * p->cells + c];
            new_total = exact;
        }
        double average = new_total / (double)new_size;
        int64_t n = I(L_N, c);
        double mean = F(L_MEAN, c), var = F(L_VAR, c);
        double z = (average - (mean > p->mean_floor ? mean : p->mean_floor)) /
                   sqrt(var > p->var_floor ? var : p->var_floor);
        int64_t new_n = n + 1;
        double rate = 1.0 / (double)(new_n < p->horizon ? new_n : p->horizon);
        double delta = average - mean;
        F(L_MEAN, c) = mean + rate * delta;
        F(L_VAR, c) = (1.0 - rate) * (var + rate * delta * delta);
        F(L_TOTAL, c) = new_total;
        I(L_N, c) = new_n;
        I(L_SIZE, c) = new_size;
        I(L_POS, c) = new_pos;
        if (n >= 2 && (seen > p->mature || seen <= p->grace)) /* mature, or young: a t tail */
            zs[i] = seen <= p->grace && z > 0.0 ? young_deviate(z, (double)n / (double)p->short_) : z;
        else if (I(L_REF_N, c) >= 2 && new_size == p->short_ && seen <= p->mature) /* bridging: the reference */
            zs[i] = reference_deviate(average, F(L_REF_MEAN, c), F(L_REF_VAR, c), I(L_REF_N, c), p->short_,
                                      p->mean_floor, p->var_floor);
        if (zs[i] > top) top = zs[i]; /* NaN (not judged) is never above */
    }
    double tail = lowest_tail(zs, metrics, top, p->sqrt2);
    /* --- the relation test's tail (NaN: none) is one more test; combine (Sidak), red-zone dedupe,
       score, decide */
    Py_ssize_t tests = metrics;
    double extra = a->extra[r];
    int led = 0;
    if (!isnan(extra)) {
        tests += 1;
        if (extra < tail) {
            tail = extra;
            led = 1;
        }
    }
    a->led[r] = (char)led;
    if (tests > 1 && tail < 1.0) tail = -expm1((double)tests * log1p(-tail));
    int red = tail <= p->red_zone;
    if (p->dedupe && red && a->prev_red[s]) tail = p->yellow_zone;
    a->prev_red[s] = (char)red;
    double score = -log10(tail + p->log_floor) / 10.0;
    score = score < 0.0 ? 0.0 : (score > 1.0 ? 1.0 : score);
    if (row_novel) score = 1.0;
    a->seen[s] = device_seen;
    a->novel_of[s] = (char)row_novel;
    a->novel[r] = (char)row_novel;
    int warm = device_seen <= p->warmup, flagged;
    a->warming[r] = (char)warm;
    if (warm) { /* cold start: only a gross outlier, once the range means something */
        flagged = row_gross && device_seen >= p->cold_min;
        score = flagged ? 1.0 : 0.0;
    } else {
        flagged = score >= p->threshold;
    }
    a->anomalous[r] = (char)flagged;
    a->scores[r] = score;
    if (flagged && p->protect && device_seen > p->mature) { /* protected once mature */
        if (p->grow > 0.0) { /* Preprocessor.bound_widening: the range widens by at most grow ranges */
            for (Py_ssize_t i = 0; i < metrics; i++) {
                if (isnan(before_lo[i])) continue;
                Py_ssize_t c = base + i;
                double lo = before_lo[i], hi = before_hi[i];
                if (F(P_HI, c) > hi) {
                    double edge = hi + p->grow * (hi - lo);
                    if (F(P_HI, c) > edge) F(P_HI, c) = edge;
                }
                if (F(P_LO, c) < lo) {
                    double edge = lo - p->grow * (hi - lo);
                    if (F(P_LO, c) < edge) F(P_LO, c) = edge;
                }
            }
        }
        return 0;
    }
    /* --- learn: the context detector's range, counters and history */
    for (Py_ssize_t i = 0; i < metrics; i++) {
        Py_ssize_t c = base + i;
        double x = value[i], lo = F(D_LO, c), hi = F(D_HI, c), new_lo, new_hi;
        int64_t n = I(D_N, c), history = I(D_HISTORY, c);
        if (history < 0 || history >= p->span) return wave_kernel_corrupt("context");
        if (n == 0) {
            new_lo = new_hi = x;
        } else {
            new_lo = x < lo ? x : lo;
            new_hi = x < lo ? hi : (x > hi ? x : hi);
        }
        int64_t b = bin_of(x, new_lo, new_hi, p->bins);
        if (n >= p->order) {
            Py_ssize_t row = c * p->count_cells + history * p->width, key = row + b + 1;
            Py_ssize_t at_total = c * p->total_cells + history;
            a->counts[key] = a->counts[key] + 1.0f;
            if (p->record) a->written_counts[(*written)++] = key;
            double total = (double)a->totals[at_total] + 1.0;
            if (total >= (double)p->cap) {
                for (Py_ssize_t k = row + 1; k < row + 1 + p->width; k++) {
                    a->counts[k] = a->counts[k] * 0.5f;
                    if (p->record) a->written_counts[(*written)++] = k;
                }
                total = total * 0.5;
            }
            a->totals[at_total] = (float)total;
            if (p->record) a->written_totals[(*totals_written)++] = at_total;
        }
        F(D_LO, c) = new_lo;
        F(D_HI, c) = new_hi;
        I(D_HISTORY, c) = (history * p->width + b) % p->span;
        I(D_N, c) = n + 1;
    }
    if (a->anomalous[r]) { /* not protected (or young): the scalar path attributes the surprises after learning */
        for (Py_ssize_t i = 0; i < metrics; i++) {
            double contribution = surprise_of(a, p, base + i, value[i]);
            if (contribution < 0.0) return wave_kernel_corrupt("context");
            surprise[i] = contribution;
        }
    }
    return 0;
}

static int params_of(const Arrays *a, Params *p, Py_ssize_t rows, Py_ssize_t metrics) {
    if (a->length[A_SHAPE] != SHAPE_FIELDS || a->length[A_KNOBS] != KNOB_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "wave step: shape or knobs of the wrong length");
        return -1;
    }
    const int64_t *s = a->shape;
    const double *k = a->knobs;
    p->bins = s[S_BINS], p->width = s[S_WIDTH], p->order = s[S_ORDER], p->columns = s[S_COLUMNS];
    p->count_cells = s[S_COUNT_CELLS], p->total_cells = s[S_TOTAL_CELLS], p->span = s[S_SPAN];
    p->cap = s[S_CAP], p->short_ = s[S_SHORT], p->horizon = s[S_HORIZON], p->grace = s[S_GRACE];
    p->warmup = s[S_WARMUP], p->protect = s[S_PROTECT] != 0, p->dedupe = s[S_DEDUPE] != 0;
    p->record = s[S_RECORD] != 0, p->flat_min_run = s[S_FLAT_MIN_RUN], p->flat_factor = s[S_FLAT_FACTOR];
    p->cold_min = s[S_COLD_MIN], p->mature = s[S_MATURE], p->start = s[S_START];
    p->sharp = k[K_SHARP], p->novelty = k[K_NOVELTY], p->tolerance = k[K_TOLERANCE], p->grow = k[K_GROW];
    p->reach = k[K_REACH], p->youth = k[K_YOUTH], p->record_rate = k[K_RECORD_RATE];
    p->record_scale = k[K_RECORD_SCALE];
    p->threshold = k[K_THRESHOLD], p->mean_floor = k[K_MEAN_FLOOR], p->var_floor = k[K_VAR_FLOOR];
    p->red_zone = k[K_RED_ZONE], p->yellow_zone = k[K_YELLOW_ZONE], p->log_floor = k[K_LOG_FLOOR];
    p->sqrt2 = k[K_SQRT2];
    p->slots_allocated = a->length[A_SEEN];
    p->cells = p->slots_allocated * p->columns;
    const Py_ssize_t n = rows * metrics;
    int fits = p->columns >= metrics && metrics > 0 && p->bins > 0 && p->width == p->bins + 1 && p->short_ > 0 &&
               p->span > 0 && p->horizon > 0 && p->count_cells == p->span * p->width + 2 &&
               p->total_cells == p->span && a->length[A_FLOATS] == FLOAT_FIELDS * p->cells &&
               a->length[A_INTS] == INT_FIELDS * p->cells && a->length[A_RING] == p->short_ * p->cells &&
               a->length[A_COUNTS] == p->cells * p->count_cells && a->length[A_TOTALS] == p->cells * p->total_cells &&
               a->length[A_PREV_RED] == p->slots_allocated && a->length[A_NOVEL_OF] == p->slots_allocated &&
               a->length[A_GIVEN] == n && a->length[A_SURPRISE] == n && a->length[A_SCORES] == rows &&
               a->length[A_RAWS] == rows && a->length[A_ANOMALOUS] == rows && a->length[A_WARMING] == rows &&
               a->length[A_NOVEL] == rows && a->length[A_EXTRA] == rows && a->length[A_LED] == rows &&
               (!p->record || (a->length[A_WRITTEN_COUNTS] >= n * (1 + p->width) && a->length[A_WRITTEN_TOTALS] >= n));
    if (!fits) {
        PyErr_SetString(PyExc_ValueError, "wave step: arrays and shape do not match");
        return -1;
    }
    return 0;
}

PyObject *wave_kernel_step_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_buffer views[ARGS];
    int got;
    PyObject *result = NULL;
    Arrays a;
    if (wave_kernel_views("step_rows", args, nargs, ARGS, NAMES, ITEMSIZE, views, a.length, &got) < 0) goto done;
    a.floats = views[A_FLOATS].buf, a.ints = views[A_INTS].buf, a.ring = views[A_RING].buf;
    a.counts = views[A_COUNTS].buf, a.totals = views[A_TOTALS].buf, a.seen = views[A_SEEN].buf;
    a.prev_red = views[A_PREV_RED].buf, a.novel_of = views[A_NOVEL_OF].buf, a.slots = views[A_SLOTS].buf;
    a.given = views[A_GIVEN].buf, a.shape = views[A_SHAPE].buf, a.knobs = views[A_KNOBS].buf;
    a.written_counts = views[A_WRITTEN_COUNTS].buf, a.written_totals = views[A_WRITTEN_TOTALS].buf;
    a.scores = views[A_SCORES].buf, a.raws = views[A_RAWS].buf, a.anomalous = views[A_ANOMALOUS].buf;
    a.warming = views[A_WARMING].buf, a.novel = views[A_NOVEL].buf, a.surprise = views[A_SURPRISE].buf;
    a.extra = views[A_EXTRA].buf, a.led = views[A_LED].buf;
    Py_ssize_t rows = a.length[A_SLOTS];
    if (views[A_GIVEN].ndim != 2 || views[A_GIVEN].shape[0] != rows) {
        PyErr_SetString(PyExc_ValueError, "step_rows: given must be [rows, metrics]");
        goto done;
    }
    Py_ssize_t metrics = views[A_GIVEN].shape[1];
    Params p;
    if (params_of(&a, &p, rows, metrics) < 0) goto done;
    double *scratch = PyMem_Malloc(4 * (size_t)metrics * sizeof(double));
    if (scratch == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t written = 0, totals_written = 0;
    int failed = 0;
    for (Py_ssize_t r = 0; r < rows && !failed; r++)
        failed = step_row(&a, &p, r, metrics, scratch, scratch + metrics, scratch + 2 * metrics, scratch + 3 * metrics,
                          &written, &totals_written) < 0;
    PyMem_Free(scratch);
    if (!failed) result = Py_BuildValue("nn", written, totals_written);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    return result;
}
