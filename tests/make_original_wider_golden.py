"""Regenerate tests/golden/original_wider: its 3 synthetic images and the seed's own tools/wider.py output on them.

    .venv37/bin/python tests/make_original_wider_golden.py --seed_dir=<a checkout of airacid/pruned-face-detector>

Writes the images (images/0--Parade/*.jpg) and a small frozen graph (``golden_graph``: numpy-drawn weights, the
same under TF 1.15 and 2.x), then runs the seed's script under this interpreter (TF 1.15) from a temp copy of
``--seed_dir`` with a stub ``tensorpack.dataflow`` and the images' own wider_face_val.mat, and copies its result
files to result/. Rerun it whenever calm_frozen_graph (tests/export_graphs.py) changes.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS), TESTS]

from lib.common.cli import setup_tensorflow  # noqa: E402

GOLDEN = os.path.join(TESTS, 'golden', 'original_wider')
STUB = 'class DataFromGenerator(object):\n    pass\n\n\nclass BatchData(object):\n    pass\n\n\n' \
       'class MultiProcessPrefetchData(object):\n    pass\n'


def golden_graph(folder):
    """The frozen graph of the golden files: score threshold 0.5, box regression x 0.01 (no inverted boxes,
    which the seed's box voting loops on forever)."""
    from export_graphs import calm_frozen_graph
    return calm_frozen_graph(folder, score_thres=0.5, reg_gain=0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed_dir', required=True, help='a checkout of airacid/pruned-face-detector')
    args = parser.parse_args()
    setup_tensorflow()
    from lib.data.synthetic import make_synthetic_wider
    work = tempfile.mkdtemp(prefix='original_wider_golden.')
    make_synthetic_wider(os.path.join(work, 'syn'), 0, 3, seed=3, min_side=128, max_side=200, min_face=12,
                         max_face=60, max_faces=4)
    shutil.rmtree(os.path.join(GOLDEN, 'images'), ignore_errors=True)
    shutil.copytree(os.path.join(work, 'syn', 'WIDER_val', 'images'), os.path.join(GOLDEN, 'images'))
    pb = golden_graph(work)
    seed = os.path.join(work, 'seed')
    shutil.copytree(args.seed_dir, seed, ignore=shutil.ignore_patterns('.git'))
    shutil.copy(os.path.join(work, 'syn', 'eval_tools', 'ground_truth', 'wider_face_val.mat'),
                os.path.join(seed, 'tools', 'ground_truth', 'wider_face_val.mat'))
    os.makedirs(os.path.join(work, 'stub', 'tensorpack', 'dataflow'))
    open(os.path.join(work, 'stub', 'tensorpack', '__init__.py'), 'w').close()
    with open(os.path.join(work, 'stub', 'tensorpack', 'dataflow', '__init__.py'), 'w') as f:
        f.write(STUB)
    result = os.path.join(work, 'result')
    subprocess.check_call([sys.executable, 'tools/wider.py', '--model=' + pb, '--data_dir=' + GOLDEN,
                           '--result=' + result], cwd=seed, env=dict(os.environ, PYTHONPATH=os.path.join(work, 'stub')),
                          timeout=3600)
    shutil.rmtree(os.path.join(GOLDEN, 'result'), ignore_errors=True)
    shutil.copytree(result, os.path.join(GOLDEN, 'result'))
    shutil.rmtree(work)
    print('wrote %s' % GOLDEN)


if __name__ == '__main__':
    main()
