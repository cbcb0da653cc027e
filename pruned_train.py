"""Train DSFD: a standard model (pruned_alpha == 0) or a pruning fine-tune (pruned_alpha > 0).

    python pruned_train.py [--config=pruned_train_config.py] [--model_path=DIR] [--pretrained_model=CKPT] ...

Re-running the same command resumes where it stopped (global step, optimizer, epoch); a different
--pretrained_model on a used --model_path stops with one line (use a new --model_path, or --resume).
With $TF_CONFIG set it runs one task (chief, worker or ps) of a synchronous multi-worker training.
"""
import argparse
import logging
import os
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, ROOT)

from lib.common.cli import add_max_image_pixels, main_entry, setup_logging, setup_tensorflow  # noqa: E402

# (flag, config section, type, help): flags that override a config field when given.
OVERRIDES = [
    ('model_path', 'MODEL', str, 'folder for checkpoints and TensorBoard logs'),
    ('pretrained_model', 'MODEL', str, 'ImageNet vgg_16.ckpt or a DSFD checkpoint to start from'),
    ('batch_size', 'TRAIN', int, 'images per step over all towers'),
    ('epoch', 'TRAIN', int, 'epochs to train'),
    ('num_gpu', 'TRAIN', int, 'towers (one per GPU)'),
    ('process_num', 'TRAIN', int, 'data worker processes (0: load in this process)'),
    ('pruned_alpha', 'TRAIN', float, 'weight of the pruning loss (0: standard training)'),
    ('pruned_loss', 'TRAIN', str, "'activation', 'activation_per_image' or 'group_lasso'"),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'),
                        help='config module (default: pruned_train_config.py at the repo root)')
    for flag, section, kind, text in OVERRIDES:
        parser.add_argument('--' + flag, type=kind, default=None, help='overrides config.%s.%s: %s'
                            % (section, flag, text))
    parser.add_argument('--pruned_ratio', help="overrides config.TRAIN.pruned_ratio: '[0.5, ...]' (15 or 19 "
                        "ratios), '{layer or group: ratio}', 'all:0.5' or a plan file such as plan.json (a "
                        "{group: ratio} JSON object, written by `mac.py --target_macs=... --write_plan=plan.json`)")
    parser.add_argument('--resume', action='store_true', help='continue the run in model_path whatever it started '
                        'from; fail if it holds no checkpoint (sets config.MODEL.resume)')
    parser.add_argument('--teacher', default=None, help='distil from this teacher (a checkpoint prefix or a training '
                        'folder: its best checkpoint), frozen in the graph; sets config.TRAIN.distill_teacher, '
                        'the TRAIN.distill_* fields weigh the terms')
    parser.add_argument('--continue_train', action='store_true', help="the original's meaning: restore every model "
                        'variable from pretrained_model (strict), then train from step 0 with fresh optimizer state')
    add_max_image_pixels(parser)
    parser.add_argument('--debug', action='store_true', help='debug logging (lists restored / fresh variable names)')
    return parser.parse_args(argv)


def apply_overrides(config, args):
    for flag, section, _, _ in OVERRIDES:
        value = getattr(args, flag)
        if value is not None:
            config[section][flag] = value
    if args.pruned_ratio is not None:
        from lib.config import parse_pruned_ratio
        config.TRAIN.pruned_ratio = parse_pruned_ratio(args.pruned_ratio)
    if args.resume:
        config.MODEL.resume = True
    if args.continue_train:
        config.MODEL.continue_train = True
    if args.teacher is not None:
        config.TRAIN.distill_teacher = args.teacher
    return config


@main_entry(kept='the checkpoints saved so far stay in config.MODEL.model_path (none half-written); re-run the '
            'same command to resume from the newest')
def main(argv=None):
    args = parse_args(argv)
    setup_tensorflow()
    setup_logging(logging.DEBUG if args.debug else logging.INFO)
    from lib.config import load_config
    from lib.train.distributed import run_parameter_server, task_from_environment
    from lib.train.trainer import train
    config = apply_overrides(load_config(args.config), args)
    task = task_from_environment()  # $TF_CONFIG: a cluster (README "Beyond one machine"); None: one process
    if task is not None and task.job == 'ps':
        return run_parameter_server(task, config.TRAIN.worker_timeout_secs)
    summary = train(config, max_image_pixels=args.max_image_pixels)
    if 'best_val_loss' not in summary:
        print('worker done at global step %d; the chief holds the checkpoints' % summary['global_step'])
        return
    print('best val loss %.3f; best checkpoint %s; last checkpoint %s'
          % (summary['best_val_loss'], summary['best_checkpoint'], summary['last_checkpoint']))


if __name__ == '__main__':
    main()
