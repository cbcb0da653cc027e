"""Shared pytest set-up: repo root on sys.path, TF in graph mode, common fixtures."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lib.common.cli import setup_tensorflow  # noqa: E402

tf = setup_tensorflow()

OFFICIAL_GT_DIR = os.path.join(os.path.dirname(ROOT), 'shared', 'wider_gt')


@pytest.fixture
def official_gt_dir():
    """The official WIDER FACE val ground truth shipped beside the checkout (skipped where absent)."""
    if not os.path.isfile(os.path.join(OFFICIAL_GT_DIR, 'wider_face_val.mat')):
        pytest.skip('official WIDER ground truth not found at %s' % OFFICIAL_GT_DIR)
    return OFFICIAL_GT_DIR


def zip_same(*sequences):
    """zip() of sequences that must be equally long, checked first (a side that yields nothing would pass)."""
    sequences = [list(sequence) for sequence in sequences]
    lengths = [len(sequence) for sequence in sequences]
    assert len(set(lengths)) <= 1, 'zip over sequences of lengths %s' % lengths
    return zip(*sequences)


@pytest.fixture
def graph():
    """A fresh default graph for one test."""
    with tf.Graph().as_default() as g:
        yield g


MEASUREMENTS = []


def report_measurement(text):
    """Record a measured value (e.g. an AP) to print after the run, so regressions are visible in CI logs."""
    MEASUREMENTS.append(text)


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section('measured values (TF %s)' % tf.__version__)
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)
