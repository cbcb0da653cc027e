"""Latency and throughput of a frozen detector: median / p90 per batch and images/s, as a table.

    python bench/bench_infer.py                      # random-init dense model at width 1.0, frozen to a temp dir
    python bench/bench_infer.py --width=0.25         # a smaller model
    python bench/bench_infer.py --pb=export/detector.pb   # an existing graph (e.g. dense vs --slim)

Times FaceDetector.detect_batch (batching, the frozen graph with its decoding and NMS, mapping back) on random
uint8 images;
a random model keeps many boxes above the score threshold, so NMS runs near its worst case.
"""
import argparse
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pb', default=None, help='frozen graph to time (default: freeze a random model)')
    parser.add_argument('--width', type=float, default=1.0, help='width_mult of the random model')
    parser.add_argument('--score_thres', type=float, default=None,
                        help="the random model's TEST.score_thres (default: the config's); higher = less NMS work")
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'))
    parser.add_argument('--sizes', default='640x640,1024x768', help='input sizes WIDTHxHEIGHT, multiples of 32')
    parser.add_argument('--batches', default='1,8', help='batch sizes')
    parser.add_argument('--threads', type=int, default=os.cpu_count(), help='TF intra/inter-op threads')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs per row (after one warm-up run)')
    return parser.parse_args(argv)


def parse_sizes(text):
    from lib.common.errors import UserError
    sizes = []
    for token in text.split(','):
        try:
            width, height = (int(v) for v in token.lower().split('x'))
        except ValueError:
            raise UserError('--sizes: expected WIDTHxHEIGHT items like 640x640, got %r' % token)
        if width <= 0 or height <= 0 or width % 32 or height % 32:
            raise UserError('--sizes: %r is not a pair of positive multiples of 32' % token)
        sizes.append((width, height))
    return sizes


def random_frozen_model(config, width, score_thres, folder):
    """Freeze a randomly initialised model of ``width`` into ``folder``; returns the .pb path."""
    from lib import checkpoint
    from lib.config import dense_architecture
    from lib.export.freeze import freeze_checkpoint
    config.MODEL.width_mult = width
    if score_thres is not None:
        config.TEST.score_thres = score_thres
    ckpt = os.path.join(folder, 'random.ckpt')
    checkpoint.write_checkpoint(checkpoint.random_model_values(dense_architecture(config)), ckpt)
    return freeze_checkpoint(ckpt, config, os.path.join(folder, 'detector.pb'))['output_path']


@main_entry
def main(argv=None):
    args = parse_args(argv)
    setup_tensorflow()
    import numpy as np
    from lib.inference.detector import FaceDetector, latency_seconds
    from lib.config import load_config
    sizes = parse_sizes(args.sizes)
    batches = [int(b) for b in args.batches.split(',')]
    with tempfile.TemporaryDirectory() as folder:
        if args.pb:
            pb, model = args.pb, args.pb
        else:
            config = load_config(args.config)
            pb = random_frozen_model(config, args.width, args.score_thres, folder)
            model = 'random model, width_mult %g, score_thres %g' % (args.width, config.TEST.score_thres)
        print('model: %s (%.1f MB), threads: %d, runs per row: %d after 1 warm-up'
              % (model, os.path.getsize(pb) / 1e6, args.threads, args.repeats))
        header = '| input (WxH) | batch | threads | median ms/batch | p90 ms/batch | images/s |'
        print(header)
        print('|' + '|'.join('-' * len(cell) for cell in header.split('|')[1:-1]) + '|')
        rng = np.random.RandomState(0)
        with FaceDetector(pb, threads=args.threads) as detector:
            for width, height in sizes:
                for batch_size in batches:
                    batch = list(rng.randint(0, 256, (batch_size, height, width, 3)).astype(np.uint8))
                    seconds = np.array(latency_seconds(detector, batch, args.repeats, warmup=1))
                    median = np.median(seconds)
                    print('| %dx%d | %d | %d | %.1f | %.1f | %.2f |'
                          % (width, height, batch_size, args.threads, median * 1e3,
                             np.percentile(seconds, 90) * 1e3, batch_size / median))
                    sys.stdout.flush()


if __name__ == '__main__':
    main()
