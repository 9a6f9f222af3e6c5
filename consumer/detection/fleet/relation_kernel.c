/*
 * The compiled relation test: relation_rows() is RelationModel.tail
 * (consumer/detection/device/relation.py), the online Hotelling T-squared of a multi-metric
 * device, for one reading of each of a wave's devices, on the bank's relation rows
 * (consumer/detection/fleet/relation_rows.py numbers their fields), before step_rows
 * (step_kernel.c) takes the tails. consumer/detection/fleet/wave_relations.py calls it; without
 * this module, it steps the rows through the scalar RelationModel.
 *
 * Same operations in the same order as the scalar path; erfc, sqrt and cbrt from the C library,
 * as Python's math module takes them (wave_kernel.h: bit-identity and bounds).
 */
#include "wave_kernel.h"

enum { RF_MEAN = 0, RF_COV = 8, RF_TOTAL = 44, RF_CAL_MEAN, RF_CAL_VAR, RF_RING };
enum { RI_K, RI_N, RI_SEEN, RI_CAL_N, RI_POS, RI_SIZE, RI_OUT, RI_FIELDS = RI_OUT + 8 };
enum { R_SHORT, R_LONG, R_GRACE, R_HORIZON, R_MATURE, R_SHIFTED, R_CAL_MATURE, R_SHAPE_FIELDS };
enum { RK_RIDGE, RK_CLIP, RK_UNLEARNED, RK_MEAN_FLOOR, RK_VAR_FLOOR, RK_SQRT2, R_KNOB_FIELDS };
enum { B_FLOATS, B_INTS, B_SLOTS, B_GIVEN, B_SHAPE, B_KNOBS, B_TAILS, B_SCORED, B_Z, B_CHOL, B_ARGS };
static const char *const B_NAMES[B_ARGS] = {"floats", "ints", "slots", "given", "shape", "knobs",
                                            "tails", "scored", "z", "chol"};
static const Py_ssize_t B_ITEMSIZE[B_ARGS] = {8, 8, 8, 8, 8, 8, 8, 1, 8, 8};

/* RelationModel._calibrated: AnomalyLikelihood.tail of the statistic, a yellow or red tail unlearned */
static double relation_calibrated(double *f, int64_t *n_i, const int64_t *shape, const double *knobs, double x) {
    double mean0 = f[RF_CAL_MEAN], var0 = f[RF_CAL_VAR];
    int64_t n0 = n_i[RI_CAL_N];
    int64_t seen = n_i[RI_SEEN] + 1;
    n_i[RI_SEEN] = seen;
    if (seen <= shape[R_GRACE]) return 1.0;
    int64_t size = n_i[RI_SIZE], pos = n_i[RI_POS], short_ = shape[R_SHORT];
    double total;
    if (size < short_) {
        f[RF_RING + size] = x;
        size += 1;
        total = f[RF_TOTAL] + x;
        n_i[RI_SIZE] = size;
    } else {
        total = f[RF_TOTAL] + x - f[RF_RING + pos];
        f[RF_RING + pos] = x;
        pos += 1;
        if (pos == size) {
            pos = 0;
            double exact = 0.0;
            for (int64_t j = 0; j < size; j++) exact = exact + f[RF_RING + j];
            total = exact;
        }
        n_i[RI_POS] = pos;
    }
    f[RF_TOTAL] = total;
    double average = total / (double)size, tail = 1.0, mean = mean0, var = var0;
    int64_t n = n0;
    if (n >= 2 && seen > shape[R_CAL_MATURE]) { /* a mature calibration with the t tail (student) */
        double z = (average - (mean > knobs[RK_MEAN_FLOOR] ? mean : knobs[RK_MEAN_FLOOR])) /
                   sqrt(var > knobs[RK_VAR_FLOOR] ? var : knobs[RK_VAR_FLOOR]);
        if (z > 0.0) z = young_deviate(z, (double)n / (double)short_);
        tail = 0.5 * erfc(z / knobs[RK_SQRT2]);
    }
    n += 1;
    double rate = 1.0 / (double)(n < shape[R_LONG] ? n : shape[R_LONG]);
    double delta = average - mean;
    f[RF_CAL_MEAN] = mean + rate * delta;
    f[RF_CAL_VAR] = (1.0 - rate) * (var + rate * delta * delta);
    n_i[RI_CAL_N] = n;
    if (tail <= knobs[RK_UNLEARNED] && n0 >= 2) {
        f[RF_CAL_MEAN] = mean0;
        f[RF_CAL_VAR] = var0;
        n_i[RI_CAL_N] = n0;
    }
    return tail;
}

/* RelationModel._statistic; -1.0 when some metric is beyond clip deviations; fills z and chol */
static double relation_statistic(const double *f, const double *x, int64_t k, const double *knobs, double *z,
                                double *chol) {
    double inv[8], y[8];
    double ridge = knobs[RK_RIDGE], clip = knobs[RK_CLIP];
    for (int64_t i = 0; i < k; i++) {
        double var = f[RF_COV + i * (i + 1) / 2 + i];
        inv[i] = 0.0;
        z[i] = 0.0;
        if (var > 0.0) {
            inv[i] = 1.0 / sqrt(var);
            z[i] = (x[i] - f[RF_MEAN + i]) * inv[i];
        }
    }
    for (int64_t i = 0; i < k; i++)
        if (z[i] > clip || z[i] < -clip) return -1.0;
    for (int64_t i = 0; i < k * (k + 1) / 2; i++) chol[i] = 0.0;
    double t2 = 0.0;
    for (int64_t i = 0; i < k; i++) {
        int64_t row = i * (i + 1) / 2;
        for (int64_t j = 0; j <= i; j++) {
            int64_t col = j * (j + 1) / 2;
            double s = i == j ? 1.0 + ridge : f[RF_COV + row + j] * inv[i] * inv[j];
            for (int64_t p = 0; p < j; p++) s = s - chol[row + p] * chol[col + p];
            if (i == j)
                chol[row + i] = sqrt(s > ridge ? s : ridge);
            else
                chol[row + j] = s / chol[col + j];
        }
        double s = z[i];
        for (int64_t p = 0; p < i; p++) s = s - chol[row + p] * y[p];
        y[i] = s / chol[row + i];
        t2 = t2 + y[i] * y[i];
    }
    double top = 0.0;
    for (int64_t i = 0; i < k; i++) {
        double square = z[i] * z[i];
        if (square > top) top = square;
    }
    t2 = t2 - top / (1.0 + ridge);
    return cbrt((t2 > 0.0 ? t2 : 0.0) / (double)(k - 1));
}

PyObject *wave_kernel_relation_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_buffer views[B_ARGS];
    Py_ssize_t length[B_ARGS];
    int got;
    PyObject *result = NULL;
    if (wave_kernel_views("relation_rows", args, nargs, B_ARGS, B_NAMES, B_ITEMSIZE, views, length, &got) < 0)
        goto done;
    double *floats = views[B_FLOATS].buf, *given = views[B_GIVEN].buf, *knobs = views[B_KNOBS].buf;
    double *tails = views[B_TAILS].buf, *zs = views[B_Z].buf, *chols = views[B_CHOL].buf;
    int64_t *ints = views[B_INTS].buf, *slots = views[B_SLOTS].buf, *shape = views[B_SHAPE].buf;
    char *scored = views[B_SCORED].buf;
    Py_ssize_t rows = length[B_SLOTS];
    if (views[B_GIVEN].ndim != 2 || views[B_GIVEN].shape[0] != rows || length[B_SHAPE] != R_SHAPE_FIELDS ||
        length[B_KNOBS] != R_KNOB_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "relation_rows: arrays and shape do not match");
        goto done;
    }
    int64_t k = views[B_GIVEN].shape[1];
    Py_ssize_t float_fields = RF_RING + shape[R_SHORT], slots_allocated = length[B_INTS] / RI_FIELDS;
    if (k < 2 || k > 8 || shape[R_SHORT] < 1 || length[B_FLOATS] != slots_allocated * float_fields ||
        length[B_INTS] != slots_allocated * RI_FIELDS || length[B_TAILS] != rows || length[B_SCORED] != rows ||
        length[B_Z] != rows * k || length[B_CHOL] != rows * (k * (k + 1) / 2)) {
        PyErr_SetString(PyExc_ValueError, "relation_rows: arrays and shape do not match");
        goto done;
    }
    for (Py_ssize_t r = 0; r < rows; r++) {
        int64_t s = slots[r];
        if (s < 0 || s >= slots_allocated) {
            wave_kernel_corrupt("slot");
            goto done;
        }
        double *f = floats + s * float_fields, *z = zs + r * k, *chol = chols + r * (k * (k + 1) / 2);
        int64_t *n_i = ints + s * RI_FIELDS;
        const double *x = given + r * k;
        if (n_i[RI_K] != k) { /* a new test (DeviceModel._relation: built at first need) */
            for (Py_ssize_t j = 0; j < float_fields; j++) f[j] = 0.0;
            for (Py_ssize_t j = 0; j < RI_FIELDS; j++) n_i[j] = 0;
            n_i[RI_K] = k;
        }
        if (n_i[RI_SIZE] < 0 || n_i[RI_SIZE] > shape[R_SHORT] || n_i[RI_POS] < 0 || n_i[RI_POS] >= shape[R_SHORT]) {
            wave_kernel_corrupt("relation ring position");
            goto done;
        }
        tails[r] = 1.0;
        scored[r] = 0;
        int complete = 1;
        for (int64_t i = 0; i < k; i++)
            if (isnan(x[i])) complete = 0;
        if (!complete) continue; /* no test, nothing learned */
        int64_t n = n_i[RI_N];
        int mature = n >= shape[R_MATURE];
        if (mature) {
            double statistic = relation_statistic(f, x, k, knobs, z, chol);
            if (statistic >= 0.0) {
                scored[r] = 1;
                tails[r] = relation_calibrated(f, n_i, shape, knobs, statistic);
            }
        }
        int64_t n1 = n + 1;
        double rate = 1.0 / (double)(n1 < shape[R_HORIZON] ? n1 : shape[R_HORIZON]), keep = 1.0 - rate;
        double d[8];
        for (int64_t i = 0; i < k; i++) {
            double delta = x[i] - f[RF_MEAN + i];
            d[i] = 0.0;
            if (mature) {
                double limit = knobs[RK_CLIP] * sqrt(f[RF_COV + i * (i + 1) / 2 + i]);
                if (delta > limit || delta < -limit) {
                    n_i[RI_OUT + i] += 1;
                    if (n_i[RI_OUT + i] >= shape[R_SHIFTED]) { /* a lasting shift: the new level */
                        f[RF_MEAN + i] = x[i];
                        n_i[RI_OUT + i] = 0;
                        continue;
                    }
                    delta = delta > limit ? limit : -limit;
                } else {
                    n_i[RI_OUT + i] = 0;
                }
            }
            d[i] = delta;
            f[RF_MEAN + i] = f[RF_MEAN + i] + rate * delta;
        }
        int64_t at = 0;
        for (int64_t i = 0; i < k; i++) {
            for (int64_t j = 0; j <= i; j++) {
                f[RF_COV + at] = keep * (f[RF_COV + at] + rate * d[i] * d[j]);
                at++;
            }
        }
        n_i[RI_N] = n1;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&views[i]);
    return result;
}
