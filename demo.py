"""`make demo`: the whole pipeline on a synthetic WIDER-format set (data, training, pruning, freezing, AP, MACs).

    python demo.py [--config=demo_config.py] [--out=demo_run]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.helper.cli import main_entry  # noqa: E402
from lib.helper.config_check import load_training_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default='demo_config.py', help='training config of the demo (default: %(default)s)')
    parser.add_argument('--out', default='demo_run', help='where models, results and summary.json go')
    parser.add_argument('--train_images', type=int, default=600, help='synthetic training images')
    parser.add_argument('--val_images', type=int, default=100, help='synthetic validation images')
    parser.add_argument('--standard_epochs', type=int, default=None, help='default: config.TRAIN.epoch')
    parser.add_argument('--prune_epochs', type=int, default=None, help='default: half the standard epochs')
    parser.add_argument('--seed', type=int, default=0, help='synthetic data seed')
    parser.add_argument('--threads', type=int, default=os.cpu_count(), help='threads for the latency measurement')
    return parser.parse_args(argv)


@main_entry
def main():
    args = parse_args()
    from lib.demo import Demo
    config = load_training_config(args.config)
    standard_epochs = args.standard_epochs or config.TRAIN.epoch
    Demo(args.config, config, args.out, args.train_images, args.val_images, standard_epochs,
         args.prune_epochs or max(1, standard_epochs // 2), args.seed, args.threads).run()


if __name__ == '__main__':
    main()
