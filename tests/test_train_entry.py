"""pruned_train.py's flags reach the config and the run; several towers through train() on two virtual CPUs; a
batch that the towers cannot split is a one-line error; every entry point that reads a training config validates
it at start-up.

Virtual devices are process-wide (set before the first Session), so the towers run in a child process: this file
executed as a script."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILD_TIMEOUT = 600


def _child_towers(directory):
    """A real one-epoch training over two towers on two virtual CPUs; print what it did."""
    sys.path.insert(0, ROOT)
    from tests.train_helpers import make_config, tiny_overrides, two_virtual_cpus, write_tiny_dataset
    tf = two_virtual_cpus()
    from lib.train import trainer

    samples = write_tiny_dataset(directory, 4)
    config = make_config(tiny_overrides(directory, samples, samples, TRAIN__epoch=1, TRAIN__num_gpu=2))
    placed = {}
    build = trainer.build_train_graph

    def build_and_look(*args, **kwargs):
        graph = build(*args, **kwargs)
        for op in tf.get_default_graph().get_operations():
            if op.type == 'Conv2D' and op.name.startswith('tower_'):
                placed.setdefault(op.name.split('/')[0], set()).add(op.device.upper())
        return graph

    trainer.build_train_graph = build_and_look
    summary = trainer.train(config, devices=['/cpu:0', '/cpu:1'])
    print(json.dumps({'global_step': summary['global_step'], 'val_loss': summary['best_val_loss'],
                      'placed': {tower: sorted(devices) for tower, devices in placed.items()},
                      'files': sorted(os.listdir(config.MODEL.model_path))}))


def _run_child(*args):
    out = subprocess.run([sys.executable, os.path.abspath(__file__)] + list(args), cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, timeout=CHILD_TIMEOUT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope='module')
def pruned_train():
    sys.path.insert(0, ROOT)
    import pruned_train as module
    return module


@pytest.fixture
def config():
    from lib.config import load_config
    return load_config(os.path.join(ROOT, 'pruned_train_config.py'))


def test_each_flag_overrides_its_config_field(pruned_train, config):
    args = pruned_train.parse_args(['--batch_size=6', '--num_gpu=3', '--process_num=0', '--pruned_loss=group_lasso',
                                    '--epoch=4', '--pruned_alpha=0.5', '--model_path=m', '--pretrained_model=p'])
    pruned_train.apply_overrides(config, args)
    assert (config.TRAIN.batch_size, config.TRAIN.num_gpu, config.TRAIN.process_num) == (6, 3, 0)
    assert (config.TRAIN.pruned_loss, config.TRAIN.epoch, config.TRAIN.pruned_alpha) == ('group_lasso', 4, 0.5)
    assert (config.MODEL.model_path, config.MODEL.pretrained_model) == ('m', 'p')
    assert type(config.TRAIN.batch_size) is int and type(config.TRAIN.pruned_alpha) is float


def test_pruned_ratio_flag_takes_every_form(pruned_train, config):
    for text, value in (('plan.json', 'plan.json'), ('all:0.5', 'all:0.5'), ("{'fc7': 0.25}", {'fc7': 0.25}),
                        ('[0.5, 0.25]', [0.5, 0.25])):
        args = pruned_train.parse_args(['--pruned_ratio=' + text])
        assert pruned_train.apply_overrides(config, args).TRAIN.pruned_ratio == value


def test_absent_flags_keep_the_config(pruned_train, config):
    before = json.dumps(config, sort_keys=True)
    pruned_train.apply_overrides(config, pruned_train.parse_args([]))
    assert json.dumps(config, sort_keys=True) == before


def test_continue_train_flag_sets_the_config_field(pruned_train, config):
    assert pruned_train.apply_overrides(config, pruned_train.parse_args(['--continue_train'])).MODEL.continue_train


class _Recorder(object):
    """Stands in for train() and setup_logging() in main(): keeps what they were given."""

    def __init__(self):
        self.configs, self.levels, self.max_image_pixels = [], [], []

    def train(self, config, devices=None, max_image_pixels=None):
        self.configs.append(config)
        self.max_image_pixels.append(max_image_pixels)
        return {'best_val_loss': 0., 'best_checkpoint': None, 'last_checkpoint': None}


def test_flags_and_debug_reach_train(pruned_train, monkeypatch, capsys):
    """Through main(): the overridden config is what train() gets, and --debug asks for DEBUG logging (else INFO)."""
    import logging
    from lib.train import trainer
    recorder = _Recorder()
    monkeypatch.setattr(trainer, 'train', recorder.train)
    monkeypatch.setattr(pruned_train, 'setup_logging', recorder.levels.append)
    pruned_train.main(['--debug', '--batch_size=4', '--num_gpu=2', '--process_num=0', '--pruned_loss=group_lasso',
                       '--continue_train', '--max_image_pixels=5000'])
    pruned_train.main([])
    assert recorder.levels == [logging.DEBUG, logging.INFO]
    flagged, plain = [(c.TRAIN.batch_size, c.TRAIN.num_gpu, c.TRAIN.process_num, c.TRAIN.pruned_loss,
                       c.MODEL.continue_train) for c in recorder.configs]
    assert flagged == (4, 2, 0, 'group_lasso', True)
    assert plain == (8, 1, 2, 'activation', False)
    assert recorder.max_image_pixels == [5000, 100 * 1000 * 1000]
    assert 'best val loss 0.000' in capsys.readouterr().out


def test_batch_not_divisible_by_towers_is_a_user_error(config):
    from lib.common.errors import UserError
    from lib.train.trainer import train
    config.TRAIN.num_gpu, config.TRAIN.batch_size = 2, 3
    with pytest.raises(UserError, match=r'^config.TRAIN.batch_size = 3: expected a multiple of TRAIN.num_gpu \(2\)$'):
        train(config)
    config.TRAIN.num_gpu = 1  # the towers given to train() directly count too
    with pytest.raises(UserError, match=r'^config.TRAIN.batch_size = 3: expected a multiple of the 2 towers$'):
        train(config, devices=['/cpu:0', '/cpu:1'])


def test_two_towers_through_train(tmp_path):
    """train() builds one tower per virtual CPU, each on its device, and trains and saves as with one."""
    result = _run_child(str(tmp_path))
    assert result['placed'] == {'tower_0': ['/DEVICE:CPU:0'], 'tower_1': ['/DEVICE:CPU:1']}
    assert result['global_step'] == 2  # 4 images, batches of 2 split over 2 towers
    assert 0 < result['val_loss'] < float('inf')
    assert 'epoch_1.ckpt.index' in result['files']


BAD_LOSS = ("error: config.TRAIN.pruned_loss = 'l1': expected 'activation' or 'activation_per_image' or "
            "'group_lasso'")


def _bad_config(tmp_path):
    bad = tmp_path / 'bad_config.py'
    bad.write_text('import sys\nsys.path.insert(0, %r)\nfrom pruned_train_config import config\n'
                   'config.TRAIN.pruned_loss = "l1"\n' % ROOT)
    return str(bad)


def _exits_with_one_line(main, capsys, expected):
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [expected]


def test_pruned_train_validates_config_and_flags_at_start(pruned_train, tmp_path, capsys):
    """A bad config field or a flag giving a bad value stops main() with one line before anything is written."""
    model = str(tmp_path / 'model')
    _exits_with_one_line(lambda: pruned_train.main(['--config', _bad_config(tmp_path), '--model_path', model]),
                         capsys, BAD_LOSS)
    _exits_with_one_line(lambda: pruned_train.main(['--model_path', model, '--num_gpu=2', '--batch_size=3']), capsys,
                         'error: config.TRAIN.batch_size = 3: expected a multiple of TRAIN.num_gpu (2)')
    assert sorted(os.listdir(str(tmp_path))) == ['bad_config.py']


def test_demo_validates_the_training_config_at_start(tmp_path, monkeypatch, capsys):
    """(tools/wider.py and tools/vis.py read no training config: they take a frozen graph.)"""
    sys.path.insert(0, ROOT)
    import demo
    monkeypatch.setattr(sys, 'argv', ['demo.py', '--config', _bad_config(tmp_path), '--out', str(tmp_path / 'demo')])
    _exits_with_one_line(demo.main, capsys, BAD_LOSS)
    assert sorted(os.listdir(str(tmp_path))) == ['bad_config.py']


if __name__ == '__main__':
    _child_towers(sys.argv[1])
