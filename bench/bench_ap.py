"""Benchmark the WIDER FACE AP evaluator on a full-size prediction set (a benchmark, not a test).

Builds ~``--per_image`` predictions for every val image from the official ground truth (jittered faces plus
random false positives), writes them as a WIDER result folder in a temp dir, then times each stage:
loading the .mat ground truth, reading the prediction files, and evaluating (matching + the three settings).

    python bench/bench_ap.py [--gt=../shared/wider_gt] [--per_image=1000] [--seed=0]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry  # noqa: E402
from lib.evaluation import ground_truth, protocol  # noqa: E402
from lib.evaluation.results import read_predictions  # noqa: E402


def fake_predictions(face_boxes, per_image, rng):
    """x y w h score rows: most faces found with a few percent jitter, the rest random boxes with lower scores."""
    found = face_boxes[rng.rand(len(face_boxes)) < 0.8][:per_image]
    size = np.maximum(found[:, 2:], 1)
    jittered = np.hstack([found[:, :2] + rng.normal(0, 0.05, found[:, :2].shape) * size,
                          size * rng.uniform(0.9, 1.1, size.shape)])
    num_false = max(per_image - len(found), 0)
    corner = rng.uniform(0, 1000, (num_false, 2))
    false = np.hstack([corner, rng.uniform(8, 300, (num_false, 1)) * [1, 1.2]])
    boxes = np.vstack([jittered, false])
    scores = np.concatenate([rng.beta(5, 2, len(found)), rng.beta(2, 5, num_false)])
    return np.hstack([boxes, scores[:, None]])


def write_result_folder(out_dir, gt, per_image, seed):
    """Write one WIDER result file per ground-truth image; returns the number of predictions."""
    rng = np.random.RandomState(seed)
    total = 0
    for (event, name), face_boxes in zip(gt.images, gt.boxes):
        rows = fake_predictions(face_boxes, per_image, rng)
        os.makedirs(os.path.join(out_dir, event), exist_ok=True)
        with open(os.path.join(out_dir, event, name + '.txt'), 'w') as f:
            f.write('%s.jpg\n%d\n' % (name, len(rows)))
            f.write(('%.1f %.1f %.1f %.1f %.6f\n' * len(rows)) % tuple(rows.ravel()))
        total += len(rows)
    return total


def timed(func, *args):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = func(*args)
    return result, time.perf_counter() - start


@main_entry
def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--gt', default=os.path.join(os.path.dirname(ROOT), 'shared', 'wider_gt'),
                        help='folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat '
                             '(default: ../shared/wider_gt relative to the repo root)')
    parser.add_argument('--per_image', type=int, default=1000, help='predictions per image (default 1000)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()

    gt, load_s = timed(ground_truth.load_ground_truth, args.gt)
    protocol.overlap_kernel()  # fail early, with the build command, if the extension is missing
    work = tempfile.mkdtemp(prefix='bench_ap_')
    try:
        total, write_s = timed(write_result_folder, work, gt, args.per_image, args.seed)
        preds, read_s = timed(lambda: read_predictions(work, gt, progress=False))
        results, eval_s = timed(lambda: protocol.evaluate_predictions(preds, gt, progress=False))
    finally:
        shutil.rmtree(work)

    print('WIDER val: %d images, %d faces, %d predictions (%d per image)'
          % (len(gt.images), sum(len(b) for b in gt.boxes), total, args.per_image))
    print('(writing the fake result folder took %.2f s, not counted)' % write_s)
    print('%-42s %8s' % ('stage', 'seconds'))
    for label, seconds in [('load ground truth (4 .mat files)', load_s),
                           ('read prediction files (parse text)', read_s),
                           ('evaluate (IoU, matching, 3 x 1000 thr, AP)', eval_s),
                           ('total', load_s + read_s + eval_s)]:
        print('%-42s %8.2f' % (label, seconds))
    print('AP easy %.4f  medium %.4f  hard %.4f' % (results['easy'], results['medium'], results['hard']))


if __name__ == '__main__':
    main()
