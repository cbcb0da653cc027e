"""Build the Cython IoU kernel in place: ``cd tools/ap_eval && python setup.py build_ext --inplace``.

The kernel uses typed memoryviews only (no NumPy C API), so it builds unchanged against NumPy 1.x and 2.x.
The generated box_overlaps.c and the compiled module are build outputs (gitignored), never committed.
"""
import os

from setuptools import Extension, setup
from Cython.Build import cythonize

os.chdir(os.path.dirname(os.path.abspath(__file__)))  # sources and the in-place module live beside this file
setup(
    name='wider_ap_eval',
    ext_modules=cythonize([Extension('box_overlaps', ['box_overlaps.pyx'])],
                          compiler_directives={'language_level': 3}),
)
