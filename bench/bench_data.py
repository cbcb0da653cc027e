"""Data pipeline speed: anchor target assignment alone (sparse, with the dense reference beside it), the cost of
each stage of a training sample on one core, and loader throughput with 1, 2 and all cores, on the synthetic
WIDER set and on a synthetic crowd set (hundreds of small faces an image).

Times are CPU times of this process (what a sample costs even when other jobs share the machine), median of
repeats. DSFD anchors: strides 4..128, sizes 16..512, two shots (68,250 anchors at 640x640).
Usage: python bench/bench_data.py [--input=640] [--batch=8] [--images=24] [--crowd_images=12] [--rate=50]
"""
import argparse
import math
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # lib.anchors imports TensorFlow

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lib.anchors.generator import AnchorSpec  # noqa: E402
from lib.anchors.matcher import AnchorTargetAssigner  # noqa: E402
from lib.data.augment import augment_train  # noqa: E402
from lib.common.image import read_image  # noqa: E402
from lib.data.loader import BatchLoader  # noqa: E402
from lib.data.synthetic import make_synthetic_wider  # noqa: E402
from lib.data.wider import convert_split  # noqa: E402

SPEC = AnchorSpec((4, 8, 16, 32, 64, 128), (16, 32, 64, 128, 256, 512), 1.5, 0.5)
SHOTS = ('first', 'second')
PIXEL_MEAN = (123.675, 116.28, 103.53)
FACE_COUNTS = (0, 12, 50, 200, 500, 1000)
# random faces for target assignment alone: side range (px), like the 10-250 px, and crowd-sized
FACE_SIZES = (('10-250 px', 10, 250), ('8-40 px', 8, 40))


def assigners(input_size):
    return (AnchorTargetAssigner(input_size, SPEC, SHOTS, 0.35, 5.),
            AnchorTargetAssigner(input_size, SPEC, SHOTS, 0.35, 5., dense=True))


def random_faces(rng, count, low, high, size):
    """count boxes [N, 4] inside a size x size input: side uniform in [low, high], 1 to 1.5 times as high."""
    side = rng.uniform(low, high, count)
    height = np.minimum(side * rng.uniform(1., 1.5, count), size - 1)
    x, y = rng.uniform(0, size - side), rng.uniform(0, size - height)
    return np.stack([x, y, x + side, y + height], axis=1).astype(np.float32)


def cpu_ms(fn, repeats):
    """(median CPU ms of fn(), its last result)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return 1000.0 * float(np.median(times)), out


def bench_targets(input_size, dense_max):
    """Prints sparse vs dense target assignment per face count and size range; returns {(range, count): ms}."""
    sparse, dense = assigners(input_size)
    rng = np.random.RandomState(0)
    print('\ntarget assignment alone, %dx%d, both shots, one core, median CPU ms (dense: fewer repeats)'
          % input_size)
    print('%-6s %-10s %10s %10s %9s %10s' % ('faces', 'sizes', 'sparse', 'dense', 'speed-up', 'identical'))
    result = {}
    for count in FACE_COUNTS:
        for name, low, high in FACE_SIZES:
            boxes = random_faces(rng, count, low, high, input_size[0])
            ms, got = cpu_ms(lambda: sparse(boxes), 15)
            result[name, count] = ms
            if count > dense_max:
                print('%-6d %-10s %10.2f %10s %9s %10s' % (count, name, ms, '-', '-', '-'))
                continue
            dense_ms, want = cpu_ms(lambda: dense(boxes), 5 if count <= 50 else 1)
            same = all(np.array_equal(got[key], want[key]) for key in want)
            print('%-6d %-10s %10.2f %10.1f %8.0fx %10s' % (count, name, ms, dense_ms, dense_ms / max(ms, 1e-3),
                                                           'yes' if same else 'NO'))
    return result


def per_stage_ms(samples, input_size, target_fn, repeats=2):
    """{stage: median CPU ms} of decode, augment and target assignment of a sample, on one core; and the mean
    number of faces a sample keeps after augmentation."""
    cv2.setNumThreads(1)
    rng = np.random.RandomState(0)
    times = {name: [] for name in ('decode', 'augment', 'targets')}
    faces = []
    for _ in range(repeats):
        for path, boxes in samples:
            t0 = time.process_time()
            image = read_image(path)
            t1 = time.process_time()
            _, out_boxes = augment_train(image, boxes, input_size, rng, PIXEL_MEAN, SPEC.sizes)
            t2 = time.process_time()
            target_fn(out_boxes)
            t3 = time.process_time()
            for name, seconds in zip(('decode', 'augment', 'targets'), (t1 - t0, t2 - t1, t3 - t2)):
                times[name].append(seconds * 1000.0)
            faces.append(len(out_boxes))
    cv2.setNumThreads(-1)
    return {name: float(np.median(v)) for name, v in times.items()}, float(np.mean(faces))


def loader_rate(samples, batch, input_size, target_fn, workers, batches=12):
    """Images per second through BatchLoader over ``batches`` batches after the first (start-up)."""
    repeat = int(math.ceil((batches + 1) * batch / float(len(samples))))
    with BatchLoader(samples * repeat, batch, input_size, True, pixel_mean=PIXEL_MEAN, anchor_sizes=SPEC.sizes,
                     target_fn=target_fn, process_num=workers,
                     prefetch_size=2 * workers) as loader:
        start, images = None, 0
        for b in loader.epoch(0):
            if start is None:
                start = time.perf_counter()
                continue
            images += len(b['paths'])
        return images / (time.perf_counter() - start)


def make_sets(tmp, images, crowd_images):
    """{name: training samples} of the synthetic set and the crowd set."""
    sets = {}
    for name, count, crowd in (('synthetic', images, False), ('crowd', crowd_images, True)):
        root = os.path.join(tmp, name)
        make_synthetic_wider(root, count, 0, seed=0, crowd=crowd, min_side=640 if crowd else 320)
        sets[name] = convert_split(root, 'train')[0]
    return sets


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--input', type=int, default=640, help='square input size (default: %(default)s)')
    parser.add_argument('--batch', type=int, default=8, help='batch size (default: %(default)s)')
    parser.add_argument('--images', type=int, default=24, help='synthetic training images (default: %(default)s)')
    parser.add_argument('--crowd_images', type=int, default=12, help='crowd images (default: %(default)s)')
    parser.add_argument('--rate', type=float, default=50, help='GPU training rate to feed, images/s '
                                                               '(default: %(default)s)')
    parser.add_argument('--dense_max', type=int, default=1000,
                        help='most faces to time the dense reference at (default: %(default)s)')
    args = parser.parse_args()
    input_size = (args.input, args.input)
    cpus = os.cpu_count() or 1
    print('%d CPUs; input %dx%d, batch %d' % (cpus, args.input, args.input, args.batch))
    targets = bench_targets(input_size, args.dense_max)
    print('goal: <= 3 ms at 12 faces, <= 20 ms at 500 faces: %s' % ', '.join(
        '%s %.1f / %.1f ms' % (name, targets[name, 12], targets[name, 500]) for name, _, _ in FACE_SIZES))

    tmp = tempfile.mkdtemp(prefix='bench_data_')
    try:
        sets = make_sets(tmp, args.images, args.crowd_images)
        target_fn = assigners(input_size)[0]
        stages = {name: per_stage_ms(samples, input_size, target_fn) for name, samples in sets.items()}
        print('\none training sample, one core, median CPU ms (synthetic: %d images of 320..1024 px; crowd: %d '
              'images of 640..1024 px)' % (len(sets['synthetic']), len(sets['crowd'])))
        print('%-28s %12s %12s' % ('stage', 'synthetic', 'crowd'))
        print('%-28s %12.1f %12.1f' % (('faces after augmentation',) + tuple(stages[n][1] for n in sets)))
        for stage in ('decode', 'augment', 'targets'):
            print('%-28s %12.2f %12.2f' % ((stage,) + tuple(stages[n][0][stage] for n in sets)))
        total = {n: sum(stages[n][0].values()) for n in sets}
        print('%-28s %12.2f %12.2f' % (('full sample',) + tuple(total[n] for n in sets)))
        print('%-28s %12.1f %12.1f' % (('images/s a core',) + tuple(1000.0 / total[n] for n in sets)))
        print('%-28s %12d %12d' % (('workers for %g images/s' % args.rate,) +
                                   tuple(int(math.ceil(args.rate * total[n] / 1000.0)) for n in sets)))

        print('\nBatchLoader throughput, images/s (training: augmentation + targets)')
        workers = sorted(set([1, 2, cpus]))
        print('%-12s %12s %12s' % ('process_num', 'synthetic', 'crowd'))
        for count in workers:
            print('%-12d %12.1f %12.1f' % ((count,) + tuple(
                loader_rate(sets[n], args.batch, input_size, target_fn, count) for n in sets)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
