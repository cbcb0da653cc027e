"""Build the Cython kernels in place: ``cd tools/ap_eval && python setup.py build_ext --inplace``.

The command is the original's (it built the evaluator's IoU kernel). It now builds both of this project's
kernels beside their sources, where lib imports them: the evaluator's IoU (lib/evaluation/box_overlaps.pyx)
and the sparse anchor matcher (lib/anchors/grid_match.pyx, compiled without fused multiply-add so that its
float32 IoUs equal NumPy's bit for bit). They use typed memoryviews only (no NumPy C API), so they build
unchanged against NumPy 1.x and 2.x. The generated .c files and the compiled modules are build outputs
(gitignored), never committed.
"""
import os

from setuptools import Extension, setup
from Cython.Build import cythonize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(ROOT)  # --inplace places lib.evaluation.box_overlaps under lib/evaluation/, alike lib/anchors/
setup(
    name='pruned_dsfd_kernels',
    ext_modules=cythonize([Extension('lib.evaluation.box_overlaps', ['lib/evaluation/box_overlaps.pyx']),
                           Extension('lib.anchors.grid_match', ['lib/anchors/grid_match.pyx'],
                                     extra_compile_args=['-ffp-contract=off'])],
                          compiler_directives={'language_level': 3}),
)
