"""The one compiled part: the fleet bank's wave step (``consumer/detection/fleet/_wave_kernel.c``).

Everything else is in ``pyproject.toml``. The extension is optional: without a C compiler the
package installs without it and ``consumer.detection.fleet.wave_step`` steps waves with numpy
instead (the same results, bit for bit, at about three times the CPU per reading).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "consumer.detection.fleet._wave_kernel",
            ["consumer/detection/fleet/_wave_kernel.c"],
            # bit-identity with the scalar path: no fused multiply-add, no fast-math reassociation
            extra_compile_args=["-O2", "-ffp-contract=off", "-fno-fast-math", "-Wall"],
            optional=True,
        )
    ]
)
