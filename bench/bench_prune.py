"""Does pruning pay on this CPU? Dense vs slim DSFD at uniform ratios: counted MACs and frozen-graph latency.

A random checkpoint of the configured model is hard-pruned at each ratio (the first C - floor(ratio * C)
channels of every backbone + extras layer kept, of every pruning group with --all_groups; counts rounded up to a
multiple of --round_to), slimmed and frozen with lib.export.freeze.freeze_checkpoint; each frozen
graph runs on one 640x640 image in this process with fixed threads (median of --runs after a warm-up).
Aim: speed-up >= 80% of the MAC ratio (dense MACs / kept MACs).

    python bench/bench_prune.py [--width_mult=1] [--size=640] [--runs=5] [--threads=2] [--round_to=8]
                                [--all_groups] [--ratios=0.3,0.6]

Does --round_to=8 pay? At ratios 0.25 / 0.5 / 0.75 the full-width counts are multiples of 8 already; compare
`--ratios=0.3,0.6` with and without it (rounding keeps more channels: it pays when latency still drops).
"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402
from lib.common.errors import UserError  # noqa: E402


@main_entry
def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'))
    parser.add_argument('--width_mult', type=float, default=1.)
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--round_to', type=int, default=1, help='kept counts rounded up to a multiple of this')
    parser.add_argument('--all_groups', action='store_true', help='prune the FPN and FEM groups too')
    parser.add_argument('--ratios', default='0.25,0.5,0.75', help='pruned fractions, comma-separated')
    args = parser.parse_args()
    try:
        ratios = [float(r) for r in args.ratios.split(',')]
    except ValueError:
        raise UserError('--ratios=%s: expected comma-separated fractions such as 0.3,0.6' % args.ratios)
    tf = setup_tensorflow()
    from lib import checkpoint
    from lib.config import dense_architecture, load_config
    from lib.export.freeze import freeze_checkpoint
    from lib.inference.detector import FaceDetector, latency_seconds
    from lib.model.arch import PRUNABLE_LAYERS
    from lib.pruning import macs
    from lib.pruning.selection import hard_prune_checkpoint
    from lib.pruning.slimming import slim_checkpoint
    config = load_config(args.config)
    config.MODEL.width_mult = args.width_mult
    size = (args.size, args.size)
    dense = dense_architecture(config)
    image = np.random.RandomState(0).randint(0, 256, (args.size, args.size, 3)).astype(np.uint8)
    work = tempfile.mkdtemp(prefix='bench_prune.')
    try:
        source = os.path.join(work, 'dense.ckpt')
        checkpoint.write_checkpoint(checkpoint.random_model_values(dense), source)
        models = [('dense', source)]
        for ratio in ratios:
            groups = dense.groups if args.all_groups else PRUNABLE_LAYERS
            counts = macs.planned_kept(dense, dict.fromkeys(groups, ratio), args.round_to)
            kept = {name: list(range(n)) for name, n in counts.items()}
            hard = hard_prune_checkpoint(source, kept, os.path.join(work, 'hard_%g.ckpt' % ratio))
            slim = os.path.join(work, 'slim_%g.ckpt' % ratio)
            slim_checkpoint(hard, kept, dense, slim)
            models.append(('slim %.2f' % ratio, slim))
        rows = []
        for label, ckpt in models:
            pb = os.path.join(work, label.replace(' ', '_') + '.pb')
            info = freeze_checkpoint(ckpt, config, pb)
            count = sum(c.macs for c in macs.count_arch(checkpoint.load_arch(ckpt, dense), size, config))
            with FaceDetector(pb, threads=args.threads) as detector:
                seconds = float(np.median(latency_seconds(detector, [image], args.runs, warmup=1)))
                detections = len(detector.detect(image, 0.))
            rows.append((label, count, seconds, info['file_size'], detections))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print('DSFD width_mult=%g, %dx%d, TF %s, %d threads, median of %d runs (frozen graphs, incl. NMS); pruned: %s, '
          'round_to=%d' % (args.width_mult, args.size, args.size, tf.__version__, args.threads, args.runs,
                           'every group' if args.all_groups else 'backbone + extras', args.round_to))
    print('%-10s %12s %10s %11s %9s %9s %10s %6s' % ('model', 'GMACs', 'MAC ratio', 'latency ms', 'speed-up',
                                                   'speed/MAC', '.pb MB', 'dets'))
    dense_macs, dense_seconds = rows[0][1], rows[0][2]
    for label, count, seconds, file_size, detections in rows:
        mac_ratio, speed_up = dense_macs / float(count), dense_seconds / seconds
        print('%-10s %12.2f %9.2fx %11.1f %8.2fx %8.0f%% %10.1f %6d' % (
            label, count / 1e9, mac_ratio, 1e3 * seconds, speed_up, 100. * speed_up / mac_ratio,
            file_size / 2. ** 20, detections))


if __name__ == '__main__':
    main()
