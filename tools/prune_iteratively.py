"""Iterative pruning in one command: a dense checkpoint to the final kept counts in K rounds (select, slim,
fine-tune).

    python tools/prune_iteratively.py --pretrained_model=face_detector/optimized --out=iterative
        [--config=pruned_train_config.py] [--pruned_ratio=plan.json | all:0.5 | ...] [--rounds=3]
        [--epochs_per_round=2] [--criterion=l1] [--teacher=CKPT]

The final kept counts are those of --pruned_ratio (default: config.TRAIN.pruned_ratio; a plan file of
`mac.py --target_macs=... --write_plan=plan.json`, 'all:r', a list or a dict), rounded as config.TRAIN.round_to
says. Round r keeps a count between dense and final (geometric in the kept fraction), chosen by --criterion on the
previous round's checkpoint, sliced out into OUT/round_<r>/slim.ckpt and fine-tuned --epochs_per_round epochs by
pruned_train.py into OUT/round_<r>/train (with --teacher passed on when given; TensorBoard: --logdir=OUT).
Re-running the same command resumes where it stopped; the last round's best checkpoint is the result.
"""
import argparse
import os
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_logging, setup_tensorflow  # noqa: E402

TOOL = 'prune_iteratively'


def parse_args(argv=None):
    from lib.pruning.iterative import CRITERIA
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pretrained_model', required=True, help='the dense checkpoint (prefix, or a training '
                        'folder: its best checkpoint)')
    parser.add_argument('--out', required=True, help='folder of the rounds and state.json (new, or this tool\'s)')
    parser.add_argument('--config', default=os.path.join(ROOT, 'pruned_train_config.py'),
                        help='training config of the fine-tunes (default: pruned_train_config.py)')
    parser.add_argument('--pruned_ratio', help='overrides config.TRAIN.pruned_ratio: the final ratios (a plan '
                        "file such as plan.json, 'all:0.5', '[0.5, ...]' or '{group: ratio}')")
    parser.add_argument('--rounds', type=int, default=3, help='cut + fine-tune rounds (K)')
    parser.add_argument('--epochs_per_round', type=int, default=2, help='fine-tune epochs after each cut')
    parser.add_argument('--criterion', default='l1', choices=CRITERIA,
                        help="channel score: 'l1' filter norm (the one-shot baseline's) or 'weight' (filter-group "
                        'L2 norm)')
    parser.add_argument('--teacher', help='passed on to pruned_train.py --teacher (distillation in the fine-tunes)')
    args = parser.parse_args(argv)
    from lib.common.errors import UserError
    if args.rounds < 1:
        raise UserError('--rounds=%d: expected at least 1' % args.rounds)
    if args.epochs_per_round < 1:
        raise UserError('--epochs_per_round=%d: expected at least 1' % args.epochs_per_round)
    return args


def final_counts(config, arch):
    """{group: kept count} of every group of ``arch`` under config.TRAIN.pruned_ratio and round_to."""
    from lib.config import PRUNABLE_LAYERS, validate_config
    from lib.pruning.macs import planned_kept
    counts = dict((group, arch.channels[group]) for group in arch.groups)
    counts.update(planned_kept(arch, validate_config(config, PRUNABLE_LAYERS), config.TRAIN.round_to))
    return counts


def finetuner(args, config_path):
    """The round's fine-tune: pruned_train.py in a subprocess (resumes itself when re-run); its best checkpoint."""
    from lib.checkpoint import resolve_checkpoint
    from lib.common.errors import UserError
    from lib.train.faults import round_environment

    def finetune(index, model_path, pretrained):
        command = [sys.executable, os.path.join(ROOT, 'pruned_train.py'), '--config', config_path, '--model_path',
                   model_path, '--pretrained_model', pretrained, '--epoch', str(args.epochs_per_round),
                   '--pruned_alpha', '0']
        if args.teacher:
            command += ['--teacher', args.teacher]
        returncode = subprocess.call(command, cwd=ROOT, env=round_environment(os.environ, index))
        if returncode in (130, -signal.SIGINT):
            raise KeyboardInterrupt
        if returncode != 0:
            raise UserError('round %d: the fine-tune stopped (exit %s): python %s; re-run the same command to resume '
                            'it' % (index, returncode, ' '.join(command[1:])))
        return resolve_checkpoint(model_path)[0]
    return finetune


@main_entry(kept='finished rounds and the fine-tune\'s checkpoints stay in --out; re-run the same command to resume')
def main(argv=None):
    args = parse_args(argv)
    setup_tensorflow()
    setup_logging()
    from lib import checkpoint
    from lib.common.outputs import check_disjoint, claim_output_dir
    from lib.config import dense_architecture, load_config, parse_pruned_ratio
    from lib.pruning.iterative import IterativePruning
    from lib.pruning.macs import count_arch, total_macs
    from lib.train.faults import Hooks
    config = load_config(args.config)
    if args.pruned_ratio is not None:
        config.TRAIN.pruned_ratio = parse_pruned_ratio(args.pruned_ratio)
    start = checkpoint.resolve_checkpoint(args.pretrained_model)[0]
    inputs = {'--pretrained_model': start, '--config': args.config}
    if args.teacher:
        inputs['--teacher'] = args.teacher
    check_disjoint(inputs, {'--out': args.out})
    out = claim_output_dir(args.out, TOOL)
    arch = checkpoint.load_arch(start, dense_architecture(config))
    final = final_counts(config, arch)
    convs = count_arch(arch, (config.DATA.hin, config.DATA.win), config)
    settings = {'pretrained_model': os.path.realpath(start), 'epochs_per_round': args.epochs_per_round,
                'teacher': args.teacher and os.path.realpath(args.teacher)}
    result = IterativePruning(out, start, arch, final, args.rounds, config.TRAIN.round_to, args.criterion, settings,
                              finetuner(args, os.path.abspath(args.config)), lambda c: total_macs(convs, c),
                              Hooks.from_environment()).run()
    print('iterative pruning done: %s' % result)


if __name__ == '__main__':
    main()
