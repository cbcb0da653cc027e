"""`make demo`: the whole pipeline on a synthetic WIDER-format set (data, training, pruning, freezing, AP, MACs).

    python demo.py [--config=demo_config.py] [--out=demo_run]

Every stage runs the same script a user would (as a subprocess, so what is shown is what works), then the
results of the standard and the pruned model are gathered into one table and ``summary.json``. Re-running reuses
what is there: the data set, and training resumes (or skips) from its checkpoints.
"""
import argparse
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from lib.common.cli import main_entry, setup_tensorflow  # noqa: E402

setup_tensorflow()  # quiet TensorFlow before the modules below import it

from lib.checkpoint import resolve_checkpoint  # noqa: E402
from lib.common.errors import UserError  # noqa: E402
from lib.common.io import read_json, write_json  # noqa: E402
from lib.common.outputs import check_writable_dir  # noqa: E402
from lib.config import load_training_config  # noqa: E402
from lib.common.image import letterbox, read_image  # noqa: E402
from lib.data.sample_list import read_sample_list  # noqa: E402
from lib.inference.detector import FaceDetector, latency_seconds  # noqa: E402
from lib.inference.visualize import draw_detections, grid, label, write_rgb_image  # noqa: E402



ROOT = os.path.dirname(os.path.abspath(__file__))
# Small images and faces, so a CPU-sized input (demo_config: 256x256) sees them at their drawn scale.
SYNTHETIC_SIZES = ('--min_side', 256, '--max_side', 512, '--min_face', 12, '--max_face', 160)


def banner(title, text):
    print('\n' + '=' * 78 + '\n' + title + '\n' + '-' * 78 + '\n' + text.strip() + '\n', flush=True)


def run_script(script, *args):
    """Run one of the project's scripts with this interpreter, from the repo root; stop the demo if it fails."""
    command = [sys.executable, script] + [str(a) for a in args]
    print('$ python ' + ' '.join([script] + [str(a) for a in args]), flush=True)
    returncode = subprocess.call(command, cwd=ROOT)
    if returncode in (130, -signal.SIGINT):  # Ctrl-C reached the stage first: the demo stops as interrupted
        raise KeyboardInterrupt
    if returncode != 0:
        raise UserError('demo stage failed: python %s (see its output above)' % ' '.join(command[1:]))


def best_checkpoint(model_path):
    """The lowest-val-loss checkpoint of a training: the newest in ``model_path/optimized``, since training
    writes there only on a new best val loss."""
    return resolve_checkpoint(os.path.join(model_path, 'optimized'))[0]


def detections_picture(path, pbs, val_list, tile_size, threads, count=3, score=0.5, max_width=480):
    """Write ``path``: the first ``count`` val images holding at least two faces, one row each, the standard
    model's boxes (left) beside the pruned one's (right) over the ground truth (red). Each image is letterboxed
    into ``tile_size`` before drawing, so every tile's lines and labels have one size."""
    samples = [s for s in read_sample_list(val_list) if len(s[1]) >= 2][:count]
    rows = [[] for _ in samples]
    for name in ('standard', 'pruned'):
        with FaceDetector(pbs[name], threads=threads) as detector:
            for row, (image_path, boxes) in zip(rows, samples):
                image = read_image(image_path)
                detections = detector.detect(image, score)
                tile, truth, box = letterbox(image, tile_size, (255, 255, 255), boxes)
                detections[:, :4] = box.to_input(detections[:, :4])
                drawn = draw_detections(tile.astype(np.uint8), detections, truth)
                row.append(label(drawn, 'pruned (slim)' if name == 'pruned' else 'standard'))
    write_rgb_image(path, grid(rows, max_width))
    return path


def measure_latency(pb_path, input_size, threads, runs=20):
    """Median milliseconds of one detection on a random image at ``input_size`` (after two warm-up runs)."""
    image = np.random.RandomState(0).randint(0, 256, size=tuple(input_size) + (3,)).astype(np.uint8)
    with FaceDetector(pb_path, threads=threads) as detector:
        return 1000. * float(np.median(latency_seconds(detector, [image], runs, input_size=input_size)))


class Demo(object):
    """Paths and settings of one demo run; ``run()`` executes the stages in order."""

    def __init__(self, config_path, config, out_dir, train_images, val_images, standard_epochs, prune_epochs,
                 seed, threads):
        self.config_path = config_path
        self.config = config
        self.out = out_dir
        self.data_root = config.DATA.root_path
        self.list_dir = os.path.dirname(config.DATA.train_txt_path) or '.'
        self.train_images, self.val_images = train_images, val_images
        self.standard_epochs, self.prune_epochs = standard_epochs, prune_epochs
        self.seed = seed
        self.threads = threads
        self.input_size = (config.DATA.hin, config.DATA.win)
        self.models = {'standard': os.path.join(out_dir, 'standard'), 'pruned': os.path.join(out_dir, 'pruned')}

    def make_data(self):
        banner('1/6  Data', 'A synthetic WIDER FACE (drawn faces, face-like distractors, the exact WIDER layout '
               'with annotation .txt and easy/medium/hard .mat files), then train.txt / val.txt from it.')
        if os.path.isfile(os.path.join(self.data_root, 'eval_tools', 'ground_truth', 'wider_face_val.mat')):
            print('reusing the synthetic set in %s' % self.data_root)
        else:
            run_script('tools/make_synthetic_wider.py', '--out', self.data_root, '--train', self.train_images,
                       '--val', self.val_images, '--seed', self.seed, *SYNTHETIC_SIZES)
        if os.path.isfile(self.config.DATA.val_txt_path) and os.path.isfile(self.config.DATA.train_txt_path):
            print('reusing %s and %s' % (self.config.DATA.train_txt_path, self.config.DATA.val_txt_path))
        else:
            run_script('tools/prepare_wider_data.py', '--wider_root', self.data_root, '--out_dir', self.list_dir)

    def train_standard(self):
        banner('2/6  Standard training', 'A small DSFD (both shots, FPN + FEM) from scratch, pruned_alpha = 0. '
               'Each epoch writes epoch_<e>.ckpt; a new best val loss also goes to optimized/. Killed or '
               're-run, it resumes.')
        run_script('pruned_train.py', '--config', self.config_path, '--model_path', self.models['standard'],
                   '--pruned_alpha', 0, '--epoch', self.standard_epochs)
        return best_checkpoint(self.models['standard'])

    def train_pruned(self, standard_ckpt):
        banner('3/6  Pruning fine-tune', 'The standard model, fine-tuned with the sparsity loss (pruned_alpha = %g, '
               "'%s') on every backbone layer: the targeted channels are driven to zero."
               % (self.config.TRAIN.pruned_alpha, self.config.TRAIN.pruned_loss))
        run_script('pruned_train.py', '--config', self.config_path, '--model_path', self.models['pruned'],
                   '--pretrained_model', standard_ckpt, '--epoch', self.prune_epochs)
        return best_checkpoint(self.models['pruned'])

    def count_macs(self, name, ckpt):
        json_path = os.path.join(self.models[name], 'mac.json')
        run_script('mac.py', '--train_config', self.config_path, '--ckpt_path', ckpt, '--input_size',
                   '%d,%d' % self.input_size, '--json', json_path)
        return read_json(json_path)

    def freeze(self, name, ckpt, slim):
        export = os.path.join(self.models[name], 'export')
        run_script('tools/auto_freeze.py', '--config', self.config_path, '--ckpt_path', ckpt,
                   '--output_path', export, *(['--slim'] if slim else []))
        return os.path.join(export, 'detector.pb')

    def evaluate(self, name, pb_path):
        result_dir = os.path.join(self.models[name], 'results')
        ap_json = os.path.join(self.models[name], 'ap.json')
        run_script('tools/wider.py', '--model', pb_path, '--data_dir', os.path.join(self.data_root, 'WIDER_val'),
                   '--result', result_dir, '--max_size', self.input_size[0] * self.input_size[1])
        run_script('tools/ap_eval/evaluation.py', '--pred', result_dir,
                   '--gt', os.path.join(self.data_root, 'eval_tools', 'ground_truth'), '--json', ap_json,
                   '--plot', os.path.join(self.models[name], 'pr_curves.png'))
        return read_json(ap_json)

    def picture(self, pbs):
        """demo_run/detections.png (docs/detections.png is a copy of one)."""
        return detections_picture(os.path.join(self.out, 'detections.png'), pbs, self.config.DATA.val_txt_path,
                                  (240, 240), self.threads)

    def run(self):
        self.make_data()
        standard_ckpt = self.train_standard()
        pruned_ckpt = self.train_pruned(standard_ckpt)
        banner('4/6  Channel selection, MACs and freezing', 'mac.py selects the dead channels of the pruned '
               'checkpoint (writing <ckpt>.mask.json) and counts MACs from the graph; auto_freeze.py writes the '
               'standard detector.pb and, with --slim, the physically smaller one.')
        macs = {'standard': self.count_macs('standard', standard_ckpt), 'pruned': self.count_macs('pruned', pruned_ckpt)}
        pbs = {'standard': self.freeze('standard', standard_ckpt, slim=False),
               'pruned': self.freeze('pruned', pruned_ckpt, slim=True)}
        banner('5/6  WIDER inference and AP', 'tools/wider.py runs each detector over the synthetic val set; '
               'tools/ap_eval/evaluation.py scores easy / medium / hard AP with the official protocol.')
        aps = {name: self.evaluate(name, pb) for name, pb in pbs.items()}
        banner('6/6  Summary', 'Latency: median of 20 runs at the demo input size, %d threads. detections.png: '
               'the first val images with two faces or more, standard | pruned boxes (green) over the ground '
               'truth (red).' % self.threads)
        summary = {'input_size': list(self.input_size), 'threads': self.threads}
        for name in ('standard', 'pruned'):
            totals = macs[name]['total']
            kept = name == 'pruned'
            summary[name] = {
                'ap': {level: aps[name][level] for level in ('easy', 'medium', 'hard')},
                'macs': totals['macs_kept'] if kept else totals['macs_dense'],
                'params': totals['params_kept'] if kept else totals['params_dense'],
                'backbone_macs': macs[name]['groups']['backbone']['macs_kept' if kept else 'macs_dense'],
                'pb_bytes': os.path.getsize(pbs[name]),
                'latency_ms': measure_latency(pbs[name], self.input_size, self.threads),
                'checkpoint': standard_ckpt if name == 'standard' else pruned_ckpt,
                'pb': pbs[name],
            }
        summary['picture'] = self.picture(pbs)
        write_json(os.path.join(self.out, 'summary.json'), summary)
        print(format_summary(summary, self))
        return summary


def format_summary(summary, demo):
    rows = [('easy AP', lambda s: '%.4f' % s['ap']['easy']), ('medium AP', lambda s: '%.4f' % s['ap']['medium']),
            ('hard AP', lambda s: '%.4f' % s['ap']['hard']), ('MACs', lambda s: '{:,}'.format(s['macs'])),
            ('backbone MACs', lambda s: '{:,}'.format(s['backbone_macs'])),
            ('parameters', lambda s: '{:,}'.format(s['params'])), ('.pb size', lambda s: '{:,} B'.format(s['pb_bytes'])),
            ('CPU latency', lambda s: '%.1f ms' % s['latency_ms'])]
    lines = ['%-16s %22s %22s' % ('', 'standard', 'pruned (slim)')]
    lines += ['%-16s %22s %22s' % (label, fmt(summary['standard']), fmt(summary['pruned'])) for label, fmt in rows]
    lines.append('\ninput %dx%d, %d threads' % (summary['input_size'][0], summary['input_size'][1], summary['threads']))
    lines.append('checkpoints and TensorBoard logs: %s, %s' % (demo.models['standard'], demo.models['pruned']))
    lines.append('.pb files: %s, %s' % (summary['standard']['pb'], summary['pruned']['pb']))
    lines.append('results and PR plots: %s/{results,pr_curves.png}, %s/{results,pr_curves.png}'
                 % (demo.models['standard'], demo.models['pruned']))
    lines.append('summary: %s' % os.path.join(demo.out, 'summary.json'))
    lines.append('detections (standard | pruned, ground truth in red): %s' % summary['picture'])
    return '\n'.join(lines)


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


@main_entry(kept='the data set and the stages done so far stay in --out (trainings keep their checkpoints); '
            're-run the same command to continue')
def main():
    args = parse_args()
    config = load_training_config(args.config)
    check_writable_dir(args.out, '--out')  # now, not when summary.json is written after the whole pipeline
    standard_epochs = args.standard_epochs or config.TRAIN.epoch
    Demo(args.config, config, args.out, args.train_images, args.val_images, standard_epochs,
         args.prune_epochs or max(1, standard_epochs // 2), args.seed, args.threads).run()


if __name__ == '__main__':
    main()
