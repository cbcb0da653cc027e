"""Data pipeline speed: per-sample cost of each stage on one core, and loader throughput with N workers.

Generates a synthetic WIDER set in a temp dir, then prints a table. Target assignment is included when
lib.anchors provides AnchorTargetAssigner (DSFD anchors: strides 4..128, sizes 16..512, two shots).
Usage: python bench/bench_data.py [--input=640] [--batch=8] [--images=64] [--workers=N]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lib.data.augment import augment_train  # noqa: E402
from lib.common.image import read_image  # noqa: E402
from lib.data.loader import BatchLoader  # noqa: E402
from lib.data.synthetic import make_synthetic_wider  # noqa: E402
from lib.data.wider import convert_split  # noqa: E402


def make_target_fn(input_size):
    """DSFD target assignment from lib.anchors, or (None, reason) when that module is not usable yet."""
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # lib.anchors imports TensorFlow
    try:
        from lib.anchors.generator import AnchorSpec
        from lib.anchors.matcher import AnchorTargetAssigner
        spec = AnchorSpec((4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), 1.5, 0.5)
        return AnchorTargetAssigner(input_size, spec, ('first', 'second'), 0.35, 5.0), None
    except Exception as err:  # the anchors module is written in parallel; bench augmentation alone without it
        return None, '%s: %s' % (type(err).__name__, err)


def per_stage_ms(samples, input_size, target_fn, repeats=2):
    """{stage: (wall ms, CPU ms)} per sample of decode, augment and target assignment on one core. CPU time
    is what a sample costs even when other processes share the machine."""
    cv2.setNumThreads(1)
    rng = np.random.RandomState(0)
    totals = {name: np.zeros(2) for name in ('decode', 'augment', 'targets')}

    def clock():
        return np.array([time.perf_counter(), time.process_time()])

    for _ in range(repeats):
        for path, boxes in samples:
            t0 = clock()
            image = read_image(path)
            t1 = clock()
            _, out_boxes = augment_train(image, boxes, input_size, rng)
            t2 = clock()
            if target_fn is not None:
                target_fn(out_boxes)
            t3 = clock()
            totals['decode'] += t1 - t0
            totals['augment'] += t2 - t1
            totals['targets'] += t3 - t2
    cv2.setNumThreads(-1)
    return {name: tuple(v * 1000.0 / (repeats * len(samples))) for name, v in totals.items()}


def loader_rate(samples, batch, input_size, target_fn, workers, epochs=2):
    """(images per second through BatchLoader, parent CPU ms per image); the first batch (start-up) excluded.
    The parent's CPU is what the trainer loses to data loading."""
    with BatchLoader(samples, batch, input_size, True, target_fn=target_fn, process_num=workers,
                     prefetch_size=2 * max(1, workers)) as loader:
        start, images = None, 0
        for epoch in range(epochs):
            for b in loader.epoch(epoch):
                if start is None:
                    start, cpu = time.perf_counter(), time.process_time()
                    continue
                images += len(b['paths'])
        return images / (time.perf_counter() - start), (time.process_time() - cpu) * 1000.0 / images


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', type=int, default=640, help='square input size (default: %(default)s)')
    parser.add_argument('--batch', type=int, default=8, help='batch size (default: %(default)s)')
    parser.add_argument('--images', type=int, default=64, help='synthetic training images (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='most worker processes to try (default: CPU count, %(default)s)')
    args = parser.parse_args()
    input_size = (args.input, args.input)
    target_fn, why = make_target_fn(input_size)
    tmp = tempfile.mkdtemp(prefix='bench_data_')
    try:
        make_synthetic_wider(tmp, args.images, 0, seed=0)
        samples = convert_split(tmp, 'train')[0]
        print('synthetic WIDER: %d images of 320..1024 px, input %dx%d, batch %d, %d CPUs'
              % (len(samples), args.input, args.input, args.batch, os.cpu_count()))
        print('target assignment: %s' % ('lib.anchors AnchorTargetAssigner (2 shots)' if target_fn else
                                        'NOT benchmarked (lib.anchors unavailable: %s)' % why))
        stages = per_stage_ms(samples, input_size, target_fn)
        print('\none core, per sample')
        print('%-14s %9s %9s' % ('stage', 'wall ms', 'CPU ms'))
        for name in ('decode', 'augment', 'targets'):
            if name != 'targets' or target_fn:
                print('%-14s %9.2f %9.2f' % ((name,) + stages[name]))
        wall, cpu = [sum(v[i] for v in stages.values()) for i in (0, 1)]
        print('%-14s %9.2f %9.2f  (%.0f images/s a core by CPU time; aim < 25 ms)'
              % ('full sample', wall, cpu, 1000.0 / cpu))
        print('\nBatchLoader throughput (training, %s)' % ('with targets' if target_fn else 'no targets'))
        print('%-12s %10s %16s %22s' % ('process_num', 'images/s', 'images/s/worker', 'parent CPU ms/image'))
        for workers in [0] + list(range(1, args.workers + 1)):
            rate, parent_ms = loader_rate(samples, args.batch, input_size, target_fn, workers)
            per_worker = '%.1f' % (rate / workers) if workers else '(in-process)'
            print('%-12s %10.1f %16s %22.2f' % (workers, rate, per_worker, parent_ms))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
