"""tools/wider.py --protocol=original equals the seed's own tools/wider.py (golden files made by running it under
TF 1.15, tests/make_original_wider_golden.py) on the same frozen graph and images: same counts, name lines, boxes
within one unit of the file (0.1 px) and scores within 0.001."""
import os
import subprocess
import sys

import numpy as np

from export_graphs import ROOT
from make_original_wider_golden import GOLDEN, golden_graph


def read(path):
    with open(path) as f:
        lines = f.read().splitlines()
    return lines[0], int(lines[1]), np.array([[float(v) for v in line.split()] for line in lines[2:]]).reshape(-1, 5)


def test_original_protocol_reproduces_the_seeds_files(tmp_path):
    pb = golden_graph(str(tmp_path))
    result = str(tmp_path / 'result')
    run = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'wider.py'), '--model=' + pb,
                          '--data_dir=' + GOLDEN, '--result=' + result, '--protocol=original', '--threads=1',
                          '--no_progress'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    golden = os.path.join(GOLDEN, 'result', '0--Parade')
    names = sorted(os.listdir(golden))
    assert len(names) == 3 and sorted(os.listdir(os.path.join(result, '0--Parade'))) == names
    for name in names:
        (seed_name, seed_count, seed_boxes), (our_name, our_count, our_boxes) = \
            read(os.path.join(golden, name)), read(os.path.join(result, '0--Parade', name))
        assert (our_name, our_count) == (seed_name, seed_count) and seed_count > 10
        np.testing.assert_allclose(our_boxes[:, :4], seed_boxes[:, :4], atol=0.1 + 1e-6)
        np.testing.assert_allclose(our_boxes[:, 4], seed_boxes[:, 4], atol=0.001 + 1e-6)
