"""The four config files of the original projects (their field values: tests/original_helpers.py), with only their
data and model paths edited, load with their values, train one step with pruned_train.py and are counted by
mac.py --config. For time the tests also shrink the input (64 px, mac.py --input_size too), the width (0.125) and
the epochs (--epoch=1, one batch of the file's own batch size per epoch)."""
import json
import os

import pytest

import mac
import pruned_train
from lib import checkpoint
from lib.config import dense_architecture, load_training_config
from lib.pruning import macs
from original_helpers import ORIGINAL_CONFIGS, original_config_values, write_original_checkpoint, \
    write_original_config
from train_helpers import write_tiny_dataset

WIDTH = 0.125
SIZE = 64


def _edited_config(name, folder):
    """The config file ``name`` written into ``folder`` with its data and model paths pointing at a tiny data set,
    ``folder``/model and a checkpoint in the original's layout; returns (path, extra pruned_train.py flags)."""
    values = dict(ORIGINAL_CONFIGS[name])
    pretrained = os.path.join(folder, 'original.ckpt')
    write_original_checkpoint(pretrained, WIDTH, 'dsfd' if values['MODEL.fpn'] else 'ssd')
    edits = dict(DATA__train_txt_path=write_tiny_dataset(folder, values['TRAIN.batch_size'], size=SIZE),
                 DATA__val_txt_path=write_tiny_dataset(folder, 1, size=SIZE, seed=1, name='val'),
                 MODEL__model_path=os.path.join(folder, 'model'), DATA__hin=SIZE, DATA__win=SIZE,
                 MODEL__width_mult=WIDTH)
    flags = ['--epoch=1']
    if 'MODEL.pretrained_model' in values:
        edits['MODEL__pretrained_model'] = pretrained
    else:  # their mac_config.py names no pretrained model: the flag gives it
        flags.append('--pretrained_model=' + pretrained)
    if 'MODEL.trained_model' in values:
        edits['MODEL__trained_model'] = os.path.join(folder, 'model')
    path = os.path.join(folder, os.path.basename(name))
    return write_original_config(path, original_config_values(name, **edits)), flags


@pytest.mark.parametrize('name', sorted(ORIGINAL_CONFIGS))
def test_original_config_file_loads_trains_one_step_and_is_counted(name, tmp_path, capsys):
    folder = str(tmp_path)
    path, flags = _edited_config(name, folder)
    theirs = dict(ORIGINAL_CONFIGS[name])
    config = load_training_config(path)
    assert (config.TRAIN.batch_size, config.TRAIN.lr_value_every_step, config.TRAIN.lr_decay_every_step) == \
        (theirs['TRAIN.batch_size'], theirs['TRAIN.lr_value_every_step'], theirs['TRAIN.lr_decay_every_step'])
    assert config.ANCHOR.neg_pos_ratio == 3 and config.ANCHOR.sizes == [16, 32, 64, 128, 256, 512]
    assert (config.MODEL.fpn, config.MODEL.continue_train) == (theirs['MODEL.fpn'], theirs['MODEL.continue_train'])
    assert (config.DATA.PIXEL_STD, config.TEST.max_detect) == ([58., 57., 57.], 1500)
    assert (config.MODEL.width_mult, config.DATA.hin) == (WIDTH, SIZE)

    pruned_train.main(['--config=' + path] + flags)
    model = os.path.join(folder, 'model')
    assert 'best val loss' in capsys.readouterr().out
    assert checkpoint.global_step(os.path.join(model, 'epoch_1.ckpt')) == 1

    mac.run(['--config=' + path, '--json=' + os.path.join(folder, 'mac.json'), '--input_size=%d,%d' % (SIZE, SIZE)])
    out = capsys.readouterr().out
    report = json.load(open(os.path.join(folder, 'mac.json')))
    best = checkpoint.resolve_checkpoint(model)[0]
    assert best.startswith(os.path.join(model, 'optimized', 'epoch_1_val_loss_')) and best in out
    dense = macs.count_arch(dense_architecture(config), (SIZE, SIZE), config)  # the training config's network
    assert report['total']['macs_dense'] == macs.compare(dense, dense, (SIZE, SIZE))['total']['macs_dense']
    assert 0 < report['total']['macs_kept'] <= report['total']['macs_dense']
