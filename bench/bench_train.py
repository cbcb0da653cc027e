"""Training throughput on this machine: images/s at 640x640 for width 1 and a small width, and the split of
step time between waiting for data and computing. Full width on CPU is slow (seconds per image): a few steps only.

    python bench/bench_train.py [--steps=3] [--widths=1,0.25] [--process_num=2]
"""
import argparse
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests'))

from lib.helper.cli import setup_tensorflow  # noqa: E402


def bench_width(directory, width, steps, batch_size, process_num, size):
    """Train 2 epochs of ``steps`` steps; report the second (warm) epoch."""
    from lib.train.trainer import train
    from train_helpers import make_config, tiny_overrides, write_tiny_dataset
    train_txt = write_tiny_dataset(directory, steps * batch_size, size=size, name='train')
    val_txt = write_tiny_dataset(directory, batch_size, size=size, seed=1, name='val')
    config = make_config(tiny_overrides(os.path.join(directory, 'w%g' % width), train_txt, val_txt,
                                        MODEL__width_mult=width, DATA__hin=size, DATA__win=size,
                                        TRAIN__batch_size=batch_size, TRAIN__process_num=process_num,
                                        TRAIN__log_interval=1000))
    warm = train(config)['epochs'][-1]
    step_seconds = warm['data_seconds'] + warm['compute_seconds']
    return warm['images_per_second'], step_seconds / steps, 100. * warm['data_seconds'] / step_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--batch_size', type=int, default=2)
    parser.add_argument('--widths', default='1,0.25')
    parser.add_argument('--size', type=int, default=640)
    parser.add_argument('--process_num', type=int, default=2)
    args = parser.parse_args()
    setup_tensorflow()
    directory = tempfile.mkdtemp(prefix='bench_train_')
    try:
        rows = [(float(w),) + bench_width(directory, float(w), args.steps, args.batch_size, args.process_num,
                                          args.size) for w in args.widths.split(',')]
    finally:
        shutil.rmtree(directory)
    print('training at %dx%d, batch %d, %d loader processes, warm epoch of %d steps'
          % (args.size, args.size, args.batch_size, args.process_num, args.steps))
    print('%-8s %10s %12s %14s' % ('width', 'images/s', 's/step', 'data wait %'))
    for width, images_per_second, step_seconds, wait in rows:
        print('%-8g %10.2f %12.2f %14.1f' % (width, images_per_second, step_seconds, wait))


if __name__ == '__main__':
    main()
