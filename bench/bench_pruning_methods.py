"""Which pruning method keeps the most AP at a whole-detector MAC budget? (issue 16 step 4; not in CI: hours at
the default scale on a CPU.)

On the demo's synthetic WIDER set (demo_config.py: width 0.25, 256x256, same seed) one standard model is trained,
then for each budget (a fraction of the dense whole-detector MACs) four methods reach the same kind of budget:

  (a) activation: the activation sparsity loss during a fine-tune, uniform 'all:r' ratios (r solved by bisection
      on the exact MAC count, honouring TRAIN.round_to); then the top channels by activation are kept;
  (b) group_lasso: the same with the group-lasso loss; the top channels by filter-group L2 norm are kept;
  (c) l1_oneshot: the classic baseline: the standard model's top channels by L1 filter norm, to the same kept
      counts, sliced out at once, then fine-tuned (no sparsity loss) for the same number of epochs;
  (d) budget_plan: (a) with `mac.py --sensitivity --target_macs` per-group ratios instead of uniform ones.

Each row: easy/medium/hard AP (lib.evaluation.subset.ValSubset on the val images), MACs and parameters of the slim
model, latency of its frozen slim graph, and the fine-tune wall time (the pruned_train.py subprocess). The
per-epoch alive-channel fraction (TensorBoard alive/* scalars) of (a) and (b) is plotted beside the AP bars.
Writes <out>/results.json and <out>/pruning_methods.png; re-running with the same --out skips finished pieces.

    python bench/bench_pruning_methods.py [--out=pruning_methods_run] [--budgets=0.5,0.25] [--width_mult=0.25]
        [--size=256] [--train_images=600] [--val_images=100] [--standard_epochs=8] [--finetune_epochs=4]
"""
import argparse
import functools
import glob
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402

setup_tensorflow()

from demo import SYNTHETIC_SIZES, best_checkpoint, measure_latency, run_script  # noqa: E402
from lib import checkpoint  # noqa: E402
from lib.common.errors import UserError  # noqa: E402
from lib.common.io import read_json, write_json, write_text  # noqa: E402
from lib.common.outputs import claim_output_dir  # noqa: E402
from lib.config import dense_architecture, load_training_config  # noqa: E402

TOOL = 'bench_pruning_methods'
DEMO_CONFIG = os.path.join(ROOT, 'demo_config.py')  # <out>/study_config.py imports it
METHODS = ('activation', 'group_lasso', 'l1_oneshot', 'budget_plan')
LABELS = {'activation': '(a) activation loss', 'group_lasso': '(b) group lasso', 'l1_oneshot': '(c) L1 one-shot',
          'budget_plan': '(d) activation + plan'}
# Flags a finished piece depends on (--budgets, --methods, --threads may change between runs).
SCALE_SETTINGS = ('width_mult', 'size', 'train_images', 'val_images', 'standard_epochs', 'finetune_epochs', 'alpha',
                  'seed')
CONFIG_TEXT = '''"""Written by bench/bench_pruning_methods.py: demo_config.py at the study's scale."""
import copy

from demo_config import config as _demo

config = copy.deepcopy(_demo)
config.DATA.root_path = %(data)r
config.DATA.train_txt_path = %(train_txt)r
config.DATA.val_txt_path = %(val_txt)r
config.DATA.hin = config.DATA.win = %(size)d
config.MODEL.width_mult = %(width_mult)r
config.TRAIN.log_interval = %(log_interval)d   # about twice per epoch: the alive-channel curves
'''
MAC_CONFIG_TEXT = '''"""Written by bench/bench_pruning_methods.py: mac_config.py for the study's sensitivity plans."""
import copy

from mac_config import config as _mac

config = copy.deepcopy(_mac)
config.MODEL.train_config = %(train_config)r
config.SENSITIVITY.plot_path = %(plot)r
'''


class Study(object):
    """Paths and settings of one study; ``run()`` fills <out>/results.json piece by piece."""

    def __init__(self, args):
        self.args = args
        self.out = claim_output_dir(args.out, TOOL)
        self.check_settings()
        self.data = os.path.join(self.out, 'data')
        self.size = (args.size, args.size)
        self.config_path = os.path.join(self.out, 'study_config.py')
        self.batch_size = load_training_config(DEMO_CONFIG).TRAIN.batch_size
        write_text(self.config_path, CONFIG_TEXT % dict(
            data=self.data, train_txt=os.path.join(self.data, 'train.txt'),
            val_txt=os.path.join(self.data, 'val.txt'), size=args.size, width_mult=args.width_mult,
            log_interval=max(1, args.train_images // (2 * self.batch_size))))
        self.mac_config_path = os.path.join(self.out, 'study_mac_config.py')
        write_text(self.mac_config_path, MAC_CONFIG_TEXT % dict(train_config=self.config_path,
                                                                plot=os.path.join(self.out, 'sensitivity.png')))
        self.config = load_training_config(self.config_path)
        self.dense = dense_architecture(self.config)
        self.round_to = self.config.TRAIN.round_to

    def check_settings(self):
        """The first run's scale settings go to <out>/settings.json; a re-run with others would mix two studies."""
        path = os.path.join(self.out, 'settings.json')
        settings = {key: getattr(self.args, key) for key in SCALE_SETTINGS}
        if not os.path.isfile(path):
            write_json(path, settings)
        changed = sorted(key for key, value in read_json(path).items() if settings.get(key) != value)
        if changed:
            raise UserError('--out=%s holds a study with other %s (see its settings.json); use a new --out'
                            % (self.out, ', '.join('--' + key for key in changed)))

    def make_data(self):
        if not os.path.isfile(os.path.join(self.data, 'eval_tools', 'ground_truth', 'wider_face_val.mat')):
            run_script('tools/make_synthetic_wider.py', '--out', self.data, '--train', self.args.train_images,
                       '--val', self.args.val_images, '--seed', self.args.seed, *SYNTHETIC_SIZES)
        if not os.path.isfile(self.config.DATA.val_txt_path):
            run_script('tools/prepare_wider_data.py', '--wider_root', self.data, '--out_dir', self.data)

    def train(self, model_path, epochs, *flags):
        """pruned_train.py into ``model_path`` (resumes or skips a finished run); (best checkpoint, seconds of
        the first complete run, kept in <model_path>/wall_time.json)."""
        timing = os.path.join(model_path, 'wall_time.json')
        start = time.time()
        run_script('pruned_train.py', '--config', self.config_path, '--model_path', model_path, '--epoch', epochs,
                   *flags)
        seconds = time.time() - start
        if not os.path.isfile(timing):
            write_json(timing, {'seconds': seconds})
        return best_checkpoint(model_path), read_json(timing)['seconds']

    def evaluate(self, name, ckpt, folder, seconds, extra=None):
        """The row of a (slim or dense) checkpoint: AP, MACs, params, latency of its frozen graph."""
        from lib.evaluation.subset import ValSubset
        from lib.export.freeze import freeze_checkpoint
        from lib.inference.detector import FaceDetector
        from lib.pruning.macs import count_arch
        arch = checkpoint.load_arch(ckpt, self.dense)
        counts = count_arch(arch, self.size, self.config)
        pb = os.path.join(folder, 'detector.pb')
        freeze_checkpoint(ckpt, self.config, pb)
        subset = ValSubset(self.data, self.args.val_images, self.size)
        with FaceDetector(pb, threads=self.args.threads) as detector:
            ap = subset.average_precision(detector.detect_batch)
        row = {'method': name, 'ap': {level: float(ap[level]) for level in ('easy', 'medium', 'hard')},
               'macs': int(sum(c.macs for c in counts)), 'params': int(sum(c.params for c in counts)),
               'latency_ms': measure_latency(pb, self.size, self.args.threads),
               'finetune_s': seconds, 'checkpoint': ckpt}
        row.update(extra or {})
        return row

    def piece(self, folder, make):
        """<folder>/row.json if a previous run finished it, else ``make()``'s row, written there."""
        path = os.path.join(folder, 'row.json')
        if not os.path.isfile(path):
            write_json(path, make())
        return read_json(path)

    def slim(self, ckpt, kept, folder):
        from lib.pruning.slimming import slim_checkpoint
        prefix = os.path.join(folder, 'slim.ckpt')
        slim_checkpoint(ckpt, kept, self.dense, prefix)
        return prefix

    def scores(self, ckpt, criterion):
        from lib.pruning.calibration import calibration_images
        from lib.pruning.selection import channel_scores
        data = self.config.DATA
        images = calibration_images(data.val_txt_path, self.args.val_images, self.size, data.PIXEL_MEAN)
        return channel_scores(ckpt, self.dense, criterion, data.PIXEL_MEAN, data.PIXEL_STD,
                              images if criterion == 'activation' else None)

    def sparsity_method(self, name, standard, ratio_flag, counts, loss, criterion, folder):
        """(a), (b), (d): a fine-tune with the sparsity loss, then the top ``counts`` channels by ``criterion``."""
        from lib.pruning.selection import kept_top
        from lib.pruning.sparsity import ALIVE_THRESHOLD
        ckpt, seconds = self.train(os.path.join(folder, 'train'), self.args.finetune_epochs, '--pretrained_model',
                                   standard, '--pruned_alpha', self.args.alpha, '--pruned_loss', loss,
                                   '--pruned_ratio', ratio_flag)
        scores = self.scores(ckpt, criterion)
        kept = kept_top(scores, counts)
        alive = sum(int((np.asarray(s) > ALIVE_THRESHOLD).sum()) for s in scores.values())
        total = sum(len(s) for s in scores.values())
        return self.evaluate(name, self.slim(ckpt, kept, folder), folder, seconds,
                             {'alive_fraction_at_selection': alive / float(total),
                              'kept_fraction': sum(counts.values()) / float(total)})

    def l1_oneshot(self, standard, counts, folder):
        """(c): the standard model's top channels by L1 filter norm, sliced out, then a plain fine-tune."""
        from lib.pruning.selection import kept_top, l1_norms
        kept = kept_top(l1_norms(checkpoint.read_checkpoint(standard), self.dense.groups), counts)
        oneshot = self.slim(standard, kept, folder)
        ckpt, seconds = self.train(os.path.join(folder, 'train'), self.args.finetune_epochs, '--pretrained_model',
                                   oneshot, '--pruned_alpha', 0)
        return self.evaluate('l1_oneshot', ckpt, folder, seconds)

    def budget(self, standard, budget, dense_counts):
        """The four rows of one budget."""
        from lib.pruning.macs import planned_kept, uniform_ratio
        folder = os.path.join(self.out, 'budget_%g' % budget)
        ratio = uniform_ratio(self.dense, dense_counts, budget, self.round_to, field='--budgets')
        uniform = planned_kept(self.dense, dict.fromkeys(self.dense.groups, ratio), self.round_to)
        flag = 'all:%r' % ratio
        plan_path = os.path.join(folder, 'plan.json')
        rows = {'uniform_ratio': ratio}
        for method in self.args.methods:
            where = os.path.join(folder, method)
            if method == 'l1_oneshot':
                make = functools.partial(self.l1_oneshot, standard, uniform, where)
            elif method == 'budget_plan':
                if not os.path.isfile(plan_path):
                    run_script('mac.py', '--config', self.mac_config_path, '--ckpt_path', standard,
                               '--input_size', '%d,%d' % self.size, '--sensitivity', '--target_macs', budget,
                               '--write_plan', plan_path)
                counts = dict((group, self.dense.channels[group]) for group in self.dense.groups)
                counts.update(planned_kept(self.dense, read_json(plan_path), self.round_to))
                make = functools.partial(self.sparsity_method, method, standard, plan_path, counts, 'activation',
                                         'activation', where)
            else:  # the loss of the same name; its own criterion picks the channels
                make = functools.partial(self.sparsity_method, method, standard, flag, uniform, method,
                                         'activation' if method == 'activation' else 'weight', where)
            rows[method] = self.piece(where, make)
        return rows

    def run(self):
        from lib.pruning.macs import count_arch
        self.make_data()
        folder = os.path.join(self.out, 'standard')

        def train_standard():
            ckpt, seconds = self.train(folder, self.args.standard_epochs, '--pruned_alpha', 0)
            return self.evaluate('standard', ckpt, folder, seconds)
        results = {'settings': vars(self.args), 'input_size': list(self.size),
                   'standard': self.piece(folder, train_standard), 'budgets': {}}
        standard = results['standard']['checkpoint']
        dense_counts = count_arch(self.dense, self.size, self.config)
        for budget in self.args.budgets:
            results['budgets']['%g' % budget] = self.budget(standard, budget, dense_counts)
        curves = alive_curves(self.out, self.args.budgets, self.args.train_images / float(self.batch_size))
        results['alive_curves'] = curves
        write_json(os.path.join(self.out, 'results.json'), results)
        plot(results, os.path.join(self.out, 'pruning_methods.png'))
        print(format_table(results))
        return results


def alive_curves(out, budgets, steps_per_epoch):
    """{budget: {method: [[epoch, mean alive fraction over the groups], ...]}} of (a) and (b), from the
    alive/* TensorBoard scalars of their fine-tunes (logged about twice an epoch; epoch = step / steps_per_epoch)."""
    import tensorflow.compat.v1 as tf
    curves = {}
    for budget in budgets:
        for method in ('activation', 'group_lasso'):
            by_step = {}
            for events in sorted(glob.glob(os.path.join(out, 'budget_%g' % budget, method, 'train',
                                                        'events.out.tfevents.*'))):
                for event in tf.train.summary_iterator(events):
                    for value in event.summary.value:
                        if value.tag.startswith('alive/'):
                            by_step.setdefault(event.step, []).append(value.simple_value)
            if by_step:
                curves.setdefault('%g' % budget, {})[method] = [
                    [step / float(steps_per_epoch), float(np.mean(values))] for step, values in sorted(by_step.items())]
    return curves


def format_table(results):
    header = '%-24s %6s %7s %7s %7s %10s %6s %10s %10s %9s %11s' % (
        'budget / method', 'ratio', 'easy', 'medium', 'hard', 'GMACs', 'MAC%', 'params', 'latency', 'finetune',
        'alive@sel')
    dense = float(results['standard']['macs'])

    def line(label, row, ratio=''):
        alive = row.get('alive_fraction_at_selection')
        return '%-24s %6s %7.4f %7.4f %7.4f %10.4f %5.1f%% %10d %8.1fms %8.0fs %11s' % (
            label, ratio, row['ap']['easy'], row['ap']['medium'], row['ap']['hard'], row['macs'] / 1e9,
            100. * row['macs'] / dense, row['params'], row['latency_ms'], row['finetune_s'],
            '' if alive is None else '%.3f' % alive)
    lines = [header, line('standard (dense)', results['standard'])]
    for budget, rows in sorted(results['budgets'].items(), key=lambda item: -float(item[0])):
        for method in METHODS:
            if method in rows:
                ratio = '%.3f' % rows['uniform_ratio'] if method != 'budget_plan' else 'plan'
                lines.append(line('%s%% %s' % (budget and '%g' % (100 * float(budget)), LABELS[method]),
                                  rows[method], ratio))
    lines.append('input %dx%d; AP on the first %d val images (ValSubset); latency: frozen slim graph, %d threads; '
                 'finetune: wall time of the training subprocess (standard: its training); alive@sel: fraction of channels alive (> %g) at '
                 'selection, by the method\'s own criterion' % (results['input_size'][0], results['input_size'][1],
                                results['settings']['val_images'], results['settings']['threads'], 1e-6))
    return '\n'.join(lines)


def plot(results, path):
    """Hard AP vs MACs per method, and the alive-channel curves of (a) vs (b)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from lib.common.io import atomic_path
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    dense = float(results['standard']['macs'])
    left.axhline(results['standard']['ap']['hard'], color='k', linestyle='--', label='standard')
    for method in METHODS:
        points = sorted((rows[method]['macs'] / dense, rows[method]['ap']['hard'])
                        for rows in results['budgets'].values() if method in rows)
        if points:
            left.plot(*zip(*points), marker='o', label=LABELS[method])
    left.set_xlabel('whole-detector MACs / dense')
    left.set_ylabel('hard AP')
    left.legend()
    for budget, methods in sorted(results['alive_curves'].items()):
        for method, curve in sorted(methods.items()):
            right.plot(*zip(*curve), marker='.', label='%s%% %s' % ('%g' % (100 * float(budget)), LABELS[method]))
    right.set_xlabel('fine-tune epoch')
    right.set_ylabel('alive channels (mean over groups)')
    if results['alive_curves']:
        right.legend()
    figure.tight_layout()
    with atomic_path(path) as temp:
        figure.savefig(temp, format='png')
    plt.close(figure)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='pruning_methods_run', help='folder of everything the study writes')
    parser.add_argument('--budgets', default='0.5,0.25', help='whole-detector MAC fractions of dense')
    parser.add_argument('--methods', default=','.join(METHODS), help='a subset of ' + ','.join(METHODS))
    parser.add_argument('--width_mult', type=float, default=0.25)
    parser.add_argument('--size', type=int, default=256, help='square input side (multiple of 32)')
    parser.add_argument('--train_images', type=int, default=600)
    parser.add_argument('--val_images', type=int, default=100, help='synthetic val images (all are scored)')
    parser.add_argument('--standard_epochs', type=int, default=8)
    parser.add_argument('--finetune_epochs', type=int, default=4, help='epochs of every method\'s fine-tune')
    parser.add_argument('--alpha', type=float, default=1., help='pruned_alpha of the sparsity fine-tunes')
    parser.add_argument('--seed', type=int, default=0, help='synthetic data seed (the demo\'s)')
    parser.add_argument('--threads', type=int, default=2, help='threads of inference and latency')
    args = parser.parse_args(argv)
    try:
        args.budgets = [float(b) for b in args.budgets.split(',')]
    except ValueError:
        raise UserError('--budgets=%s: expected comma-separated fractions such as 0.5,0.25' % args.budgets)
    if not all(0. < b < 1. for b in args.budgets):
        raise UserError('--budgets=%s: every budget must be in (0, 1)' % ','.join('%g' % b for b in args.budgets))
    args.methods = [m for m in args.methods.split(',') if m]
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        raise UserError('--methods: unknown %s; expected some of %s' % (', '.join(unknown), ', '.join(METHODS)))
    return args


@main_entry
def main():
    Study(parse_args()).run()


if __name__ == '__main__':
    main()
