/*
 * What the wave kernel's sources share: the module (_wave_kernel.c) registers two entry points,
 * step_rows (step_kernel.c: the per-metric wave step) and relation_rows (relation_kernel.c: the
 * relation test), which take their arguments the same way and report a corrupted state the same way.
 *
 * Bit-identical to the scalar path, which is the reference: the same IEEE-754 double operations
 * in the same order (every source is built with -ffp-contract=off, so no multiply and add are
 * fused, and without fast-math, so nothing is reassociated), and the transcendental functions from
 * the C library, as Python's math module takes them. Nothing here computes a number but
 * young_deviate, reference_deviate, lowest_tail and seen_tolerance, kept here to keep step_kernel.c
 * within its size.
 *
 * The arrays come from the bank; every index a loop derives from their contents (a slot, a
 * context, a ring position) is checked against the arrays' sizes, so a corrupted state raises
 * ValueError instead of writing out of bounds.
 */
#ifndef WAVE_KERNEL_H
#define WAVE_KERNEL_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* likelihood.young_deviate: the normal deviate of Student's t tail at z > 0 on nu degrees of
   freedom (Wallace), the same operations in the same order */
static inline double young_deviate(double z, double nu) {
    return (8.0 * nu + 1.0) / (8.0 * nu + 3.0) * sqrt(nu * log1p(z * z / nu));
}

/* AnomalyLikelihood._bridge_tail's deviate: a full ring's average against the young reference kept
   at grace + 1 (its floored mean and variance), a t tail on ref_n / short degrees of freedom, the
   same operations in the same order */
static inline double reference_deviate(double average, double ref_mean, double ref_var, int64_t ref_n, int64_t short_,
                                       double mean_floor, double var_floor) {
    double z = (average - (ref_mean > mean_floor ? ref_mean : mean_floor)) /
               sqrt(ref_var > var_floor ? ref_var : var_floor);
    return z > 0.0 ? young_deviate(z, (double)ref_n / (double)short_) : z;
}

/* wave_tails.lowest_tail of one row: the smallest 0.5 * erfc(z / sqrt 2) over its judged metrics (z
   not NaN), 1.0 without any. The tail falls as z grows: only metrics within a hair of the largest z
   (top) can hold the minimum, so erfc is taken for those alone */
static inline double lowest_tail(const double *zs, Py_ssize_t metrics, double top, double sqrt2) {
    double margin = top - 1e-9 * (1.0 + fabs(top)), tail = 1.0;
    for (Py_ssize_t i = 0; i < metrics; i++) {
        if (!isnan(zs[i]) && zs[i] >= margin) {
            double candidate = 0.5 * erfc(zs[i] / sqrt2);
            if (candidate < tail) tail = candidate;
        }
    }
    return tail;
}

/* Preprocessor._tolerance: the multi-metric tolerance, at least youth / seen ranges
   (young_tolerance) and c * ln(metrics / (seen * record_rate)) ranges (record_tolerance), c at
   least novelty and record_scale / ln seen (record_scale), the same operations in the same order */
static inline double seen_tolerance(double tolerance, double youth, double novelty, double record_rate,
                                    double record_scale, Py_ssize_t metrics, int64_t seen) {
    if (youth > 0.0) {
        double young = youth / (double)seen;
        if (young > tolerance) tolerance = young;
    }
    double scale = novelty;
    if (seen > 1) {
        double normal = record_scale / log((double)seen);
        if (normal > scale) scale = normal;
    }
    double record = scale * log((double)metrics / ((double)seen * record_rate));
    return record > tolerance ? record : tolerance;
}

/* ValueError for an index out of range in the bank's state; -1 for the caller to return */
static inline int wave_kernel_corrupt(const char *what) {
    PyErr_Format(PyExc_ValueError, "wave step: %s out of range (corrupted bank state)", what);
    return -1;
}

/*
 * Takes a writable C-contiguous buffer of each of the count arguments and its length in items,
 * checking the arity and each item size (names and itemsize, per argument). 0, or -1 with an
 * exception set; either way *got buffers were taken and the caller releases them.
 */
static inline int wave_kernel_views(const char *who, PyObject *const *args, Py_ssize_t nargs, int count,
                                    const char *const *names, const Py_ssize_t *itemsize, Py_buffer *views,
                                    Py_ssize_t *length, int *got) {
    *got = 0;
    if (nargs != count) {
        PyErr_Format(PyExc_TypeError, "%s takes %d arguments (%zd given)", who, count, nargs);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (PyObject_GetBuffer(args[i], &views[i], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) return -1;
        *got = i + 1; /* taken: the caller releases it, whatever its item size */
        if (views[i].itemsize != itemsize[i]) {
            PyErr_Format(PyExc_TypeError, "%s: %s has items of %zd bytes, not %zd", who, names[i], views[i].itemsize,
                         itemsize[i]);
            return -1;
        }
        length[i] = views[i].len / views[i].itemsize;
    }
    return 0;
}

/* the entry points, METH_FASTCALL: one wave's rows in place (see wave_step.py, wave_relations.py) */
PyObject *wave_kernel_step_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *wave_kernel_relation_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
