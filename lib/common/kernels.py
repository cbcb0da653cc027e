"""The Cython kernels (lib/evaluation/box_overlaps.pyx, lib/anchors/grid_match.pyx), compiled in place beside
their sources by the original's build command, run in tools/ap_eval."""
import importlib
import os
import sys

BUILD_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         'tools', 'ap_eval')


def build_command():
    """The command that builds every kernel for this Python."""
    return 'cd %s && %s setup.py build_ext --inplace' % (BUILD_DIR, sys.executable)


def load_kernel(module):
    """The compiled ``module``, or None when it is not built for this Python."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None
