"""Which pruning method keeps the most AP at a whole-detector MAC budget? (issues 16 and 28; not in CI: hours at
the default scale on a CPU.)

On the demo's synthetic WIDER set (demo_config.py: width 0.25, 256x256) each of --seeds training seeds (DATA.seed:
weight init, augmentation, order) trains its own standard model; then for each budget (a fraction of the dense
whole-detector MACs) every method reaches the same kept counts (uniform 'all:r' ratios, r solved by bisection on
the exact MAC count, honouring TRAIN.round_to) from that seed's standard model:

  l1_oneshot:         the standard model's top channels by L1 filter norm, sliced out at once, then fine-tuned
                      --finetune_epochs (no sparsity loss);
  l1_teacher:         the same, fine-tuned with distillation from the seed's standard model (pruned_train.py
                      --teacher);
  iterative_teacher:  tools/prune_iteratively.py: --rounds cut (L1) + fine-tune (--epochs_per_round, with the
                      teacher) rounds to the same counts;
  activation_teacher: the activation sparsity loss during a fine-tune with the teacher, then the top channels by
                      activation;
  and, by --methods only, issue 16's activation, group_lasso and budget_plan (activation + a sensitivity plan).

Each row: easy/medium/hard AP (lib.evaluation.subset.ValSubset on the first --val_images val images) with the
bootstrap standard error of each AP over those images (lib.evaluation.bootstrap: resampled images, AP recomputed),
MACs and parameters of the slim model, latency of its frozen slim graph, the fine-tune wall time. The summary per
row: the mean over seeds, the seed-to-seed standard error (std / sqrt(seeds)) and the mean bootstrap error, as a
markdown table "mean +- seed SE" (<out>/table.md) and a plot of hard AP vs MACs (<out>/pruning_methods.png).
The default --val_images makes the bootstrap error of hard AP about 0.005 (0.025 at 100 images, as 1/sqrt(N)).
Writes <out>/results.json (version 2: per seed, then the summary); re-running with the same --out skips finished
pieces. The estimated time of the whole study is printed once the first standard model is trained.

    python bench/bench_pruning_methods.py [--out=pruning_methods_run] [--seeds=3] [--budgets=0.25,0.1]
        [--methods=l1_oneshot,l1_teacher,iterative_teacher,activation_teacher] [--width_mult=0.25] [--size=256]
        [--train_images=600] [--val_images=2500] [--standard_epochs=8] [--finetune_epochs=4] [--rounds=3]
        [--epochs_per_round=2] [--bootstrap=200]
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
DEMO_CONFIG = os.path.join(ROOT, 'demo_config.py')  # <out>/study_config_<seed>.py imports it
RESULTS_VERSION = 2
METHODS = ('l1_oneshot', 'l1_teacher', 'iterative_teacher', 'activation_teacher', 'activation', 'group_lasso',
           'budget_plan')
DEFAULT_METHODS = METHODS[:4]
LABELS = {'l1_oneshot': 'L1 one-shot + fine-tune', 'l1_teacher': 'L1 one-shot + fine-tune, teacher',
          'iterative_teacher': 'iterative (L1), teacher', 'activation_teacher': 'activation loss, teacher',
          'activation': 'activation loss', 'group_lasso': 'group lasso', 'budget_plan': 'activation + plan'}
SPARSITY = {'activation_teacher': ('activation', 'activation'), 'activation': ('activation', 'activation'),
            'group_lasso': ('group_lasso', 'weight'), 'budget_plan': ('activation', 'activation')}
# Flags a finished piece depends on (--seeds, --budgets, --methods, --threads, --bootstrap may change between runs).
SCALE_SETTINGS = ('width_mult', 'size', 'train_images', 'val_images', 'standard_epochs', 'finetune_epochs', 'alpha',
                  'seed', 'rounds', 'epochs_per_round', 'layout')
LEVELS = ('easy', 'medium', 'hard')
CONFIG_TEXT = """\"\"\"Written by bench/bench_pruning_methods.py: demo_config.py at the study's scale, one training seed.\"\"\"
import copy

from demo_config import config as _demo

config = copy.deepcopy(_demo)
config.DATA.root_path = %(data)r
config.DATA.train_txt_path = %(train_txt)r
config.DATA.val_txt_path = %(val_txt)r
config.DATA.hin = config.DATA.win = %(size)d
config.DATA.seed = %(seed)d   # weight init, augmentation and order of this seed's trainings
config.MODEL.width_mult = %(width_mult)r
config.TRAIN.log_interval = %(log_interval)d   # about twice per epoch: the alive-channel curves
"""
MAC_CONFIG_TEXT = """\"\"\"Written by bench/bench_pruning_methods.py: mac_config.py for the study's sensitivity plans.\"\"\"
import copy

from mac_config import config as _mac

config = copy.deepcopy(_mac)
config.MODEL.train_config = %(train_config)r
config.SENSITIVITY.plot_path = %(plot)r
"""


class Study(object):
    """Paths and settings of one study; ``run()`` fills <out>/results.json piece by piece."""

    def __init__(self, args):
        self.args = args
        self.out = claim_output_dir(args.out, TOOL)
        self.check_settings()
        self.data = os.path.join(self.out, 'data')
        self.size = (args.size, args.size)
        self.batch_size = load_training_config(DEMO_CONFIG).TRAIN.batch_size
        self.config_paths = {}
        for seed in range(args.seeds):
            path = os.path.join(self.out, 'study_config_%d.py' % seed)
            write_text(path, CONFIG_TEXT % dict(
                data=self.data, train_txt=os.path.join(self.data, 'train.txt'),
                val_txt=os.path.join(self.data, 'val.txt'), size=args.size, width_mult=args.width_mult, seed=seed,
                log_interval=max(1, args.train_images // (2 * self.batch_size))))
            self.config_paths[seed] = path
        self.mac_config_path = os.path.join(self.out, 'study_mac_config.py')
        write_text(self.mac_config_path, MAC_CONFIG_TEXT % dict(train_config=self.config_paths[0],
                                                                plot=os.path.join(self.out, 'sensitivity.png')))
        self.config = load_training_config(self.config_paths[0])
        self.dense = dense_architecture(self.config)
        self.round_to = self.config.TRAIN.round_to
        self.subset = None  # the val images, decoded once (evaluate)

    def check_settings(self):
        """The first run's scale settings go to <out>/settings.json; a re-run with others would mix two studies."""
        path = os.path.join(self.out, 'settings.json')
        settings = {key: getattr(self.args, key) for key in SCALE_SETTINGS}
        if not os.path.isfile(path):
            write_json(path, settings)
        changed = sorted(key for key, value in read_json(path).items() if settings.get(key) != value)
        changed += sorted(key for key in settings if key not in read_json(path))
        if changed:
            raise UserError('--out=%s holds a study with other %s (see its settings.json); use a new --out'
                            % (self.out, ', '.join('--' + key for key in changed)))

    def make_data(self):
        if not os.path.isfile(os.path.join(self.data, 'eval_tools', 'ground_truth', 'wider_face_val.mat')):
            run_script('tools/make_synthetic_wider.py', '--out', self.data, '--train', self.args.train_images,
                       '--val', self.args.val_images, '--seed', self.args.seed, *SYNTHETIC_SIZES)
        if not os.path.isfile(self.config.DATA.val_txt_path):
            run_script('tools/prepare_wider_data.py', '--wider_root', self.data, '--out_dir', self.data)

    def timed(self, folder, run):
        """(``run()``, seconds of its first complete run, kept in <folder>/wall_time.json)."""
        timing = os.path.join(folder, 'wall_time.json')
        start = time.time()
        result = run()
        if not os.path.isfile(timing):
            write_json(timing, {'seconds': time.time() - start})
        return result, read_json(timing)['seconds']

    def train(self, seed, model_path, epochs, *flags):
        """pruned_train.py into ``model_path`` (resumes or skips a finished run); (best checkpoint, seconds)."""
        def run():
            run_script('pruned_train.py', '--config', self.config_paths[seed], '--model_path', model_path,
                       '--epoch', epochs, *flags)
            return best_checkpoint(model_path)
        return self.timed(model_path, run)

    def evaluate(self, name, ckpt, folder, seconds, extra=None):
        """The row of a (slim or dense) checkpoint: AP and its bootstrap error, MACs, params, latency."""
        from lib.evaluation.bootstrap import bootstrap_errors
        from lib.evaluation.protocol import average_precision
        from lib.evaluation.subset import ValSubset
        from lib.export.freeze import freeze_checkpoint
        from lib.inference.detector import FaceDetector
        from lib.pruning.macs import count_arch
        arch = checkpoint.load_arch(ckpt, self.dense)
        counts = count_arch(arch, self.size, self.config)
        pb = os.path.join(folder, 'detector.pb')
        freeze_checkpoint(ckpt, self.config, pb)
        if self.subset is None:
            self.subset = ValSubset(self.data, self.args.val_images, self.size)
        start = time.time()
        with FaceDetector(pb, threads=self.args.threads) as detector:
            detections = self.subset.detections(detector.detect_batch)
        ap = average_precision(detections, self.subset.gt)
        row = {'method': name, 'ap': {level: float(ap[level]) for level in LEVELS},
               'bootstrap_se': bootstrap_errors(detections, self.subset.gt, self.args.bootstrap),
               'macs': int(sum(c.macs for c in counts)), 'params': int(sum(c.params for c in counts)),
               'latency_ms': measure_latency(pb, self.size, self.args.threads),
               'finetune_s': seconds, 'checkpoint': ckpt}
        row['eval_s'] = time.time() - start
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

    def sparsity_method(self, name, seed, standard, ratio_flag, counts, folder):
        """A fine-tune with a sparsity loss (the teacher's too for *_teacher), then the top ``counts`` channels
        by the loss's criterion."""
        from lib.pruning.selection import kept_top
        from lib.pruning.sparsity import ALIVE_THRESHOLD
        loss, criterion = SPARSITY[name]
        teacher = ['--teacher', standard] if name.endswith('_teacher') else []
        ckpt, seconds = self.train(seed, os.path.join(folder, 'train'), self.args.finetune_epochs,
                                   '--pretrained_model', standard, '--pruned_alpha', self.args.alpha,
                                   '--pruned_loss', loss, '--pruned_ratio', ratio_flag, *teacher)
        scores = self.scores(ckpt, criterion)
        kept = kept_top(scores, counts)
        alive = sum(int((np.asarray(s) > ALIVE_THRESHOLD).sum()) for s in scores.values())
        total = sum(len(s) for s in scores.values())
        return self.evaluate(name, self.slim(ckpt, kept, folder), folder, seconds,
                             {'alive_fraction_at_selection': alive / float(total),
                              'kept_fraction': sum(counts.values()) / float(total)})

    def l1_oneshot(self, name, seed, standard, counts, folder):
        """The standard model's top channels by L1 filter norm, sliced out, then a plain fine-tune (with the
        standard model as teacher for l1_teacher)."""
        from lib.pruning.selection import kept_top, l1_norms
        kept = kept_top(l1_norms(checkpoint.read_checkpoint(standard), self.dense.groups), counts)
        oneshot = self.slim(standard, kept, folder)
        teacher = ['--teacher', standard] if name == 'l1_teacher' else []
        ckpt, seconds = self.train(seed, os.path.join(folder, 'train'), self.args.finetune_epochs,
                                   '--pretrained_model', oneshot, '--pruned_alpha', 0, *teacher)
        return self.evaluate(name, ckpt, folder, seconds)

    def iterative(self, name, seed, standard, ratio_flag, folder):
        """tools/prune_iteratively.py to the same counts, the standard model as teacher of every round."""
        out = os.path.join(folder, 'rounds')

        def run():
            run_script('tools/prune_iteratively.py', '--config', self.config_paths[seed], '--pretrained_model',
                       standard, '--out', out, '--pruned_ratio', ratio_flag, '--rounds', self.args.rounds,
                       '--epochs_per_round', self.args.epochs_per_round, '--teacher', standard)
            state = read_json(os.path.join(out, 'state.json'))
            return os.path.join(out, state['rounds'][str(self.args.rounds)]['checkpoint'])
        ckpt, seconds = self.timed(folder, run)
        return self.evaluate(name, ckpt, folder, seconds)

    def budget(self, seed, standard, budget, dense_counts):
        """The rows of one budget of one seed."""
        from lib.pruning.macs import planned_kept, uniform_ratio
        folder = os.path.join(self.out, 'seed_%d' % seed, 'budget_%g' % budget)
        ratio = uniform_ratio(self.dense, dense_counts, budget, self.round_to, field='--budgets')
        uniform = planned_kept(self.dense, dict.fromkeys(self.dense.groups, ratio), self.round_to)
        flag = 'all:%r' % ratio
        plan_path = os.path.join(folder, 'plan.json')
        rows = {'uniform_ratio': ratio}
        for method in self.args.methods:
            where = os.path.join(folder, method)
            if method in ('l1_oneshot', 'l1_teacher'):
                make = functools.partial(self.l1_oneshot, method, seed, standard, uniform, where)
            elif method == 'iterative_teacher':
                make = functools.partial(self.iterative, method, seed, standard, flag, where)
            elif method == 'budget_plan':
                if not os.path.isfile(plan_path):
                    run_script('mac.py', '--config', self.mac_config_path, '--ckpt_path', standard,
                               '--input_size', '%d,%d' % self.size, '--sensitivity', '--target_macs', budget,
                               '--write_plan', plan_path)
                counts = dict((group, self.dense.channels[group]) for group in self.dense.groups)
                counts.update(planned_kept(self.dense, read_json(plan_path), self.round_to))
                make = functools.partial(self.sparsity_method, method, seed, standard, plan_path, counts, where)
            else:
                make = functools.partial(self.sparsity_method, method, seed, standard, flag, uniform, where)
            rows[method] = self.piece(where, make)
        return rows

    def run(self):
        from lib.pruning.macs import count_arch
        self.make_data()
        dense_counts = count_arch(self.dense, self.size, self.config)
        results = {'version': RESULTS_VERSION, 'settings': vars(self.args), 'input_size': list(self.size),
                   'seeds': {}}
        for seed in range(self.args.seeds):
            folder = os.path.join(self.out, 'seed_%d' % seed, 'standard')

            def train_standard():
                ckpt, seconds = self.train(seed, folder, self.args.standard_epochs, '--pruned_alpha', 0)
                return self.evaluate('standard', ckpt, folder, seconds)
            rows = {'standard': self.piece(folder, train_standard), 'budgets': {}}
            if seed == 0:
                print(format_estimate(self.args, rows['standard']), flush=True)
            for budget in self.args.budgets:
                rows['budgets']['%g' % budget] = self.budget(seed, rows['standard']['checkpoint'], budget,
                                                             dense_counts)
            results['seeds'][str(seed)] = rows
        results['summary'] = summarise(results['seeds'])
        results['alive_curves'] = alive_curves(os.path.join(self.out, 'seed_0'), self.args.budgets,
                                               self.args.train_images / float(self.batch_size))
        write_json(os.path.join(self.out, 'results.json'), results)
        table = format_table(results)
        write_text(os.path.join(self.out, 'table.md'), table + '\n')
        plot(results, os.path.join(self.out, 'pruning_methods.png'))
        print(table)
        return results


def format_estimate(args, standard):
    """The whole study's estimated wall time from the first standard model's (its epochs and evaluation),
    counting fine-tune epochs per budget and seed as the methods do (the teacher's forward pass not counted)."""
    epoch_s = standard['finetune_s'] / float(args.standard_epochs)
    per_method = {'iterative_teacher': args.rounds * args.epochs_per_round}
    epochs = args.standard_epochs + len(args.budgets) * sum(per_method.get(m, args.finetune_epochs)
                                                            for m in args.methods)
    evaluations = 1 + len(args.budgets) * len(args.methods)
    seconds = args.seeds * (epochs * epoch_s + evaluations * standard.get('eval_s', 0.))
    return ('estimated study time: %.1f h (%d seeds x (%d training epochs of about %.0f s + %d evaluations)); '
            'the teacher\'s forward passes add to it' % (seconds / 3600., args.seeds, epochs,
                                                                          epoch_s, evaluations))


def mean_and_error(values):
    """(mean, standard error over the values: std (ddof 1) / sqrt(n); None for one value)."""
    values = np.asarray(values, np.float64)
    error = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None
    return float(np.mean(values)), error


def summary_row(rows):
    """Mean over seeds of a row's AP (with the seed-to-seed standard error), bootstrap error, MACs, params."""
    summary = {'seeds': len(rows), 'ap': {}, 'seed_se': {}, 'bootstrap_se': {}}
    for level in LEVELS:
        summary['ap'][level], summary['seed_se'][level] = mean_and_error([row['ap'][level] for row in rows])
        summary['bootstrap_se'][level] = float(np.mean([row['bootstrap_se'][level] for row in rows]))
    for key in ('macs', 'params', 'latency_ms', 'finetune_s'):
        summary[key] = float(np.mean([row[key] for row in rows]))
    return summary


def summarise(seeds):
    """{'standard': summary row, 'budgets': {budget: {method: summary row}}} over the seeds done."""
    summary = {'standard': summary_row([rows['standard'] for rows in seeds.values()]), 'budgets': {}}
    for budget in sorted(set(b for rows in seeds.values() for b in rows['budgets'])):
        by_method = {}
        for rows in seeds.values():
            for method, row in rows['budgets'].get(budget, {}).items():
                if method in METHODS:
                    by_method.setdefault(method, []).append(row)
        summary['budgets'][budget] = dict((method, summary_row(found)) for method, found in by_method.items())
    return summary


def alive_curves(out, budgets, steps_per_epoch):
    """{budget: {method: [[epoch, mean alive fraction over the groups], ...]}} of the sparsity methods' fine-tunes
    under ``out`` (one seed), from their alive/* TensorBoard scalars (epoch = step / steps_per_epoch)."""
    import tensorflow.compat.v1 as tf
    curves = {}
    for budget in budgets:
        for method in SPARSITY:
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


def _cell(summary, level):
    error = summary['seed_se'][level]
    return '%.3f' % summary['ap'][level] + ('' if error is None else ' +- %.3f' % error)


def format_table(results):
    """The markdown table: per row the mean over seeds +- the seed-to-seed standard error."""
    summary = results['summary']
    standard = summary['standard']
    dense = standard['macs']
    lines = ['| budget | method | MACs | easy | medium | hard | hard - dense | hard bootstrap SE |',
             '|---|---|---|---|---|---|---|---|']

    def line(budget, label, row):
        delta = row['ap']['hard'] - standard['ap']['hard']
        lines.append('| %s | %s | %.1f%% | %s | %s | %s | %+.3f | %.4f |' % (
            budget, label, 100. * row['macs'] / dense, _cell(row, 'easy'), _cell(row, 'medium'),
            _cell(row, 'hard'), delta, row['bootstrap_se']['hard']))
    line('100%', 'dense (standard)', standard)
    for budget, rows in sorted(summary['budgets'].items(), key=lambda item: -float(item[0])):
        for method in METHODS:
            if method in rows:
                line('%g%%' % (100 * float(budget)), LABELS[method], rows[method])
    settings = results['settings']
    lines.append('')
    lines.append('dense hard AP per seed: ' + ', '.join(
        '%s: %.3f' % (seed, rows['standard']['ap']['hard']) for seed, rows in sorted(results['seeds'].items())))
    lines.append('Mean over %d seeds +- the seed-to-seed standard error (std / sqrt(seeds)); hard bootstrap SE: the '
                 'sampling error of one run\'s hard AP over the %d val images (mean over seeds; the same images '
                 'score every row). Input %dx%d, width %g.' % (standard['seeds'], settings['val_images'],
                                                               results['input_size'][0], results['input_size'][1],
                                                               settings['width_mult']))
    return '\n'.join(lines)


def plot(results, path):
    """Hard AP (mean over seeds, seed standard error bars) vs MACs per method, and the alive-channel curves."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from lib.common.io import atomic_path
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    summary = results['summary']
    dense = float(summary['standard']['macs'])
    left.axhline(summary['standard']['ap']['hard'], color='k', linestyle='--', label='standard')
    for method in METHODS:
        points = sorted((rows[method]['macs'] / dense, rows[method]['ap']['hard'],
                         rows[method]['seed_se']['hard'] or 0.)
                        for rows in summary['budgets'].values() if method in rows)
        if points:
            x, y, error = zip(*points)
            left.errorbar(x, y, yerr=error, marker='o', capsize=3, label=LABELS[method])
    left.set_xlabel('whole-detector MACs / dense')
    left.set_ylabel('hard AP (mean over seeds)')
    left.legend()
    for budget, methods in sorted(results['alive_curves'].items()):
        for method, curve in sorted(methods.items()):
            right.plot(*zip(*curve), marker='.', label='%s%% %s' % ('%g' % (100 * float(budget)), LABELS[method]))
    right.set_xlabel('fine-tune epoch (seed 0)')
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
    parser.add_argument('--seeds', type=int, default=3, help='training seeds: each its own standard model + methods')
    parser.add_argument('--budgets', default='0.25,0.1', help='whole-detector MAC fractions of dense')
    parser.add_argument('--methods', default=','.join(DEFAULT_METHODS), help='a subset of ' + ','.join(METHODS))
    parser.add_argument('--width_mult', type=float, default=0.25)
    parser.add_argument('--size', type=int, default=256, help='square input side (multiple of 32)')
    parser.add_argument('--train_images', type=int, default=600)
    parser.add_argument('--val_images', type=int, default=2500, help='synthetic val images (all are scored; 2500: '
                        'bootstrap SE of hard AP about 0.005)')
    parser.add_argument('--standard_epochs', type=int, default=8)
    parser.add_argument('--finetune_epochs', type=int, default=4, help='epochs of every one-shot method\'s '
                        'fine-tune')
    parser.add_argument('--rounds', type=int, default=3, help='rounds of iterative_teacher')
    parser.add_argument('--epochs_per_round', type=int, default=2, help='fine-tune epochs of each iterative round')
    parser.add_argument('--alpha', type=float, default=1., help='pruned_alpha of the sparsity fine-tunes')
    parser.add_argument('--seed', type=int, default=0, help='synthetic data seed (the demo\'s)')
    parser.add_argument('--bootstrap', type=int, default=200, help='resamples of the val images per row')
    parser.add_argument('--threads', type=int, default=2, help='threads of inference and latency')
    args = parser.parse_args(argv)
    args.layout = RESULTS_VERSION
    try:
        args.budgets = [float(b) for b in args.budgets.split(',')]
    except ValueError:
        raise UserError('--budgets=%s: expected comma-separated fractions such as 0.25,0.1' % args.budgets)
    if not all(0. < b < 1. for b in args.budgets):
        raise UserError('--budgets=%s: every budget must be in (0, 1)' % ','.join('%g' % b for b in args.budgets))
    for flag in ('seeds', 'rounds', 'epochs_per_round', 'val_images', 'finetune_epochs', 'standard_epochs'):
        if getattr(args, flag) < 1:
            raise UserError('--%s=%d: expected at least 1' % (flag, getattr(args, flag)))
    if args.bootstrap < 2:
        raise UserError('--bootstrap=%d: expected at least 2 resamples' % args.bootstrap)
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
