"""Training throughput on this machine: images/s at 640x640 for width 1 and a small width, and the split of
step time between waiting for data and computing, on a synthetic WIDER-format set. Full width on CPU is slow (seconds per image): a few steps only.

    python bench/bench_train.py [--steps=3] [--widths=1,0.25] [--process_num=2]
"""
import argparse
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import setup_tensorflow  # noqa: E402


def synthetic_lists(directory, num_train, num_val):
    """A synthetic WIDER-format set in ``directory``; returns the paths of a train.txt of exactly ``num_train``
    images and of a val.txt (twice the images are drawn, since images without faces are left out of the lists)."""
    from lib.data.sample_list import write_sample_list
    from lib.data.synthetic import make_synthetic_wider
    from lib.data.wider import convert_split
    make_synthetic_wider(directory, 2 * num_train, 2 * num_val, seed=0)
    paths = []
    for split, count in (('train', num_train), ('val', num_val)):
        path = os.path.join(directory, split + '.txt')
        write_sample_list(path, convert_split(directory, split)[0][:count])
        paths.append(path)
    return paths


def bench_width(directory, lists, width, steps, batch_size, process_num, size):
    """Train 2 epochs of ``steps`` steps; report the second (warm) epoch."""
    from lib.config import load_config
    from lib.train.trainer import train
    config = load_config(os.path.join(ROOT, 'pruned_train_config.py'))
    config.DATA.train_txt_path, config.DATA.val_txt_path = lists
    config.DATA.hin = config.DATA.win = size
    config.MODEL.width_mult = width
    config.MODEL.model_path = os.path.join(directory, 'w%g' % width)
    config.TRAIN.update(batch_size=batch_size, process_num=process_num, epoch=2, log_interval=1000,
                        pruned_alpha=0.)
    epoch = train(config)['epochs'][-1]
    step_seconds = epoch['data_seconds'] + epoch['compute_seconds']
    return epoch['images_per_second'], step_seconds / steps, 100. * epoch['data_seconds'] / step_seconds


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
        lists = synthetic_lists(directory, args.steps * args.batch_size, args.batch_size)
        rows = [(float(w),) + bench_width(directory, lists, float(w), args.steps, args.batch_size, args.process_num,
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
