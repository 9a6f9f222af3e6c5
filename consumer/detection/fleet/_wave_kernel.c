/*
 * The compiled wave step, consumer.detection.fleet._wave_kernel: one extension module built from
 * step_kernel.c (step_rows: every row of a wave through the default pipeline) and
 * relation_kernel.c (relation_rows: the relation test of the wave's multi-metric devices, stepped
 * before step_rows takes its tails), which share wave_kernel.h. setup.py lists the sources and
 * the compile flags bit-identity needs. consumer/detection/fleet/wave_step.py calls it, and
 * wave_numpy.py is the same step in numpy, used when this module was not built.
 */
#include "wave_kernel.h"

static PyMethodDef METHODS[] = {
    {"step_rows", (PyCFunction)(void (*)(void))wave_kernel_step_rows, METH_FASTCALL,
     "step_rows(floats, ints, ring, counts, totals, seen, prev_red, novel_of, slots, given, shape, knobs, "
     "written_counts, written_totals, scores, raws, anomalous, warming, novel, surprise, extra, led) -> (counts "
     "written, "
     "totals written): one wave's rows through the default pipeline, in place (see wave_step.py)."},
    {"relation_rows", (PyCFunction)(void (*)(void))wave_kernel_relation_rows, METH_FASTCALL,
     "relation_rows(floats, ints, slots, given, shape, knobs, tails, scored, z, chol): one wave's relation "
     "tests, in place (see fleet/wave_relations.py)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_wave_kernel",
                                    "The compiled wave step (see consumer/detection/fleet/wave_step.py).", -1, METHODS,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__wave_kernel(void) { return PyModule_Create(&MODULE); }
