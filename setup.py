"""The one compiled part: the fleet bank's wave step (``consumer/detection/fleet/_wave_kernel.c``).

One extension from three sources sharing ``wave_kernel.h``: ``_wave_kernel.c`` (the module),
``step_kernel.c`` (``step_rows``, the per-metric step) and ``relation_kernel.c`` (``relation_rows``,
the relation test).

Everything else is in ``pyproject.toml``. The extension is optional: without a C compiler the
package installs without it and ``consumer.detection.fleet.wave_step`` steps waves with numpy
instead (the same results, bit for bit, at about three times the CPU per reading).
"""

from setuptools import Extension, setup

KERNEL = "consumer/detection/fleet"

setup(
    ext_modules=[
        Extension(
            "consumer.detection.fleet._wave_kernel",
            [f"{KERNEL}/_wave_kernel.c", f"{KERNEL}/step_kernel.c", f"{KERNEL}/relation_kernel.c"],
            depends=[f"{KERNEL}/wave_kernel.h"],
            # bit-identity with the scalar path: no fused multiply-add, no fast-math reassociation
            extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math", "-Wall"],
            optional=True,
        )
    ]
)
