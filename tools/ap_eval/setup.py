"""Build the Cython IoU kernel in place: ``cd tools/ap_eval && python setup.py build_ext --inplace``.

The command is the original's; the kernel itself lives in lib/evaluation/ (box_overlaps.pyx), where the
evaluator imports it, and the compiled module is written beside it. It uses typed memoryviews only (no NumPy
C API), so it builds unchanged against NumPy 1.x and 2.x. The generated .c and the compiled module are build
outputs (gitignored), never committed.
"""
import os

from setuptools import Extension, setup
from Cython.Build import cythonize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.chdir(ROOT)  # --inplace places lib.evaluation.box_overlaps under lib/evaluation/
setup(
    name='wider_ap_eval',
    ext_modules=cythonize([Extension('lib.evaluation.box_overlaps', ['lib/evaluation/box_overlaps.pyx'])],
                          compiler_directives={'language_level': 3}),
)
