"""Config files in the original's form load without being run: fields carried, renamed, accepted or rejected."""
import os

import pytest

from lib.common.errors import UserError
from lib.config import load_config, load_training_config
from lib.original.config import is_original_config, read_assignments, trained_model

# A pruning config written as the original's users write theirs: it imports the original's lib (absent here) and
# sets CUDA_VISIBLE_DEVICES, so running it would fail or leak; it must be parsed instead.
ORIGINAL_FORM = '''#-*-coding:utf-8-*-
import os
import numpy as np
from easydict import EasyDict as edict

config = edict()
os.environ["CUDA_VISIBLE_DEVICES"] = "3"
config.TRAIN = edict()
config.TRAIN.process_num = 3
config.TRAIN.prefetch_size = 100
config.TRAIN.num_gpu = 1
config.TRAIN.log_interval = 10
config.MODEL = edict()
config.TRAIN.epoch = 10
config.TRAIN.batch_size = 2
config.TRAIN.lr_value_every_step = [0.001,0.001,0.0005]
config.TRAIN.lr_decay_every_step = [1000,10000]
config.MODEL.model_path = './face_detector_pruned/'
config.MODEL.pretrained_model='./face_detector/optimized/epoch_5_val_loss_3.ckpt'
config.TRAIN.pruned_alpha = 1.
config.TRAIN.pruned_ratio = [0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.5, 0.5, 0.5, 0., 0., 0., 0., 0.]
config.TRAIN.weight_decay_factor = 5.e-4
config.TRAIN.train_set_size=13000
config.TRAIN.val_set_size=3000
config.TRAIN.iter_num_per_epoch = config.TRAIN.train_set_size // config.TRAIN.num_gpu // config.TRAIN.batch_size
config.TRAIN.val_iter=config.TRAIN.val_set_size// config.TRAIN.num_gpu // config.TRAIN.batch_size
config.TRAIN.vis=False
config.TRAIN.norm='BN'
config.TRAIN.lock_basenet_bn=False
config.TRAIN.frozen_stages=-1
config.TEST = edict()
config.TEST.parallel_iterations=8
config.TEST.score_thres = 0.05
config.TEST.iou_thres = 0.3
config.TEST.max_detect = 1500
config.DATA = edict()
config.DATA.root_path=''
config.DATA.train_txt_path='train.txt'
config.DATA.val_txt_path='val.txt'
config.DATA.num_category=1
config.DATA.num_class = config.DATA.num_category + 1
config.DATA.PIXEL_MEAN = [123., 116., 103.]
config.DATA.PIXEL_STD = [58., 57., 57.]
config.DATA.hin = 640
config.DATA.win = 640
config.DATA.max_size=[config.DATA.hin,config.DATA.win]
config.DATA.cover_small_face=5
config.DATA.mutiscale=False
config.DATA.scales=(320,640)
config.ANCHOR = edict()
config.ANCHOR.rect=True
config.ANCHOR.rect_longer=True
config.ANCHOR.ANCHOR_STRIDE = 16
config.ANCHOR.ANCHOR_SIZES = (16,32,64, 128, 256, 512)
config.ANCHOR.ANCHOR_STRIDES = (4, 8,16, 32, 64, 128)
config.ANCHOR.ANCHOR_RATIOS = (1., 4.)
config.ANCHOR.POSITIVE_ANCHOR_THRESH = 0.35
config.ANCHOR.NEGATIVE_ANCHOR_THRESH = 0.35
config.ANCHOR.AVG_MATCHES=20
config.ANCHOR.super_match=True
from lib.core.anchor.anchor import Anchor
config.ANCHOR.achor=Anchor()
config.TRAIN.norm='None'
config.MODEL.l2_norm=[10,8,5]
config.MODEL.continue_train=True
config.MODEL.net_structure='vgg_16'
config.MODEL.fpn_dims=[256,512,512,1024,512,256]
config.MODEL.fem_dims=512
config.MODEL.fpn=False
config.MODEL.dual_mode=True
config.MODEL.maxout=True
config.MODEL.max_negatives_per_positive= 3.0
'''


def _write(tmp_path, text, name='pruned_train_config.py'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_original_form_is_read_not_run(tmp_path, monkeypatch):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    path = _write(tmp_path, ORIGINAL_FORM)
    assert is_original_config(path)
    assert not is_original_config(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'pruned_train_config.py'))
    config = load_training_config(path)
    assert 'CUDA_VISIBLE_DEVICES' not in os.environ
    assert config.ANCHOR.sizes == [16, 32, 64, 128, 256, 512] and config.ANCHOR.strides == [4, 8, 16, 32, 64, 128]
    assert config.ANCHOR.positive_iou == 0.35 and config.ANCHOR.neg_pos_ratio == 3.0
    assert config.ANCHOR.aspect_ratio == 1.5
    assert config.MODEL.fpn_dims == [256, 512, 512]                     # the first three of six
    assert config.MODEL.continue_train is True and config.MODEL.fpn is False
    assert config.MODEL.pretrained_model == './face_detector/optimized/epoch_5_val_loss_3.ckpt'
    assert config.DATA.PIXEL_MEAN == [123., 116., 103.] and config.DATA.PIXEL_STD == [58., 57., 57.]
    assert config.TRAIN.lr_value_every_step == [0.001, 0.001, 0.0005] and config.TEST.max_detect == 1500
    assert len(config.TRAIN.pruned_ratio) == 19 and config.TRAIN.pruned_ratio[11] == 0.5
    assert config.TRAIN.optimizer == 'momentum'                          # our default for what they do not set
    assert 'trained_model' not in config.MODEL and 'norm' not in config.TRAIN


def test_fpn_dims_int_and_last_assignment_wins(tmp_path):
    text = ORIGINAL_FORM.replace('config.MODEL.fpn_dims=[256,512,512,1024,512,256]', 'config.MODEL.fpn_dims=128')
    config = load_config(_write(tmp_path, text))
    assert config.MODEL.fpn_dims == 128
    assert read_assignments(_write(tmp_path, text))[('TRAIN', 'norm')][0] == 'None'  # 'BN' earlier, 'None' last


@pytest.mark.parametrize('rect_line, aspect_ratio', [('', 1.5), ('config.ANCHOR.rect=False\n', 1.)])
def test_missing_anchor_rect_means_rectangular_anchors(tmp_path, rect_line, aspect_ratio):
    # The original's default (ANCHOR.rect missing) is rectangular anchors: height / width 1.5.
    text = ORIGINAL_FORM.replace('config.ANCHOR.rect=True\n', rect_line)
    assert text != ORIGINAL_FORM
    assert load_training_config(_write(tmp_path, text)).ANCHOR.aspect_ratio == aspect_ratio


@pytest.mark.parametrize('line, message', [
    ("config.TRAIN.norm='GN'", "config.TRAIN.norm = 'GN' is not supported here .*no normalisation layers"),
    ("config.ANCHOR.NEGATIVE_ANCHOR_THRESH = 0.3", 'NEGATIVE_ANCHOR_THRESH = 0.3 .*ANCHOR.positive_iou'),
    ("config.DATA.mutiscale=True", 'mutiscale = True .*DATA.hin x DATA.win'),
    ("config.MODEL.net_structure='resnet_v1_50'", 'net_structure .*VGG16 DSFD'),
    ("config.TRAIN.lr_typo = 1", 'config.TRAIN.lr_typo is not a field'),
    ("config.TRAIN.epoch = config.TRAIN.batch_size * 5", 'TRAIN.epoch is computed from other fields'),
])
def test_unsupported_fields_are_one_line_errors_naming_file_line_and_replacement(tmp_path, line, message):
    path = _write(tmp_path, ORIGINAL_FORM + line + '\n')
    with pytest.raises(UserError, match=message) as err:
        load_config(path)
    last_line = len(ORIGINAL_FORM.splitlines()) + 1
    assert str(err.value).startswith('%s:%d: ' % (path, last_line)) and '\n' not in str(err.value)


def test_original_mac_config_gives_trained_model_and_training_fields(tmp_path):
    text = ORIGINAL_FORM + "config.MODEL.trained_model='./face_detector_pruned/optimized/epoch_5val_loss_3.ckpt'\n"
    path = _write(tmp_path, text, 'mac_config.py')
    assert trained_model(path) == './face_detector_pruned/optimized/epoch_5val_loss_3.ckpt'
    assert 'trained_model' not in load_training_config(path).MODEL


def test_counts_written_as_floats_are_counts_and_a_field_of_ours_is_carried(tmp_path):
    """Their files write counts as floats (max_negatives_per_positive = 3.0): an integral float is that count; a
    non-integral one is a one-line error naming the field; a field of this project (width_mult) is carried."""
    text = ORIGINAL_FORM + 'config.TRAIN.batch_size = 8.0\nconfig.DATA.hin = 320.0\nconfig.MODEL.width_mult = 0.25\n' \
        'config.MODEL.max_negatives_per_positive = 2.5\n'
    config = load_training_config(_write(tmp_path, text))
    assert (config.TRAIN.batch_size, config.DATA.hin) == (8, 320) and type(config.TRAIN.batch_size) is int
    assert (config.MODEL.width_mult, config.ANCHOR.neg_pos_ratio) == (0.25, 2.5)
    path = _write(tmp_path, ORIGINAL_FORM + 'config.TRAIN.epoch = 2.5\n')
    with pytest.raises(UserError) as err:
        load_training_config(path)
    line = len(ORIGINAL_FORM.splitlines()) + 1
    assert str(err.value) == '%s:%d: config.TRAIN.epoch = 2.5: expected an integer >= 1' % (path, line)
    path = _write(tmp_path, ORIGINAL_FORM.replace('ANCHOR_SIZES = (16,', 'ANCHOR_SIZES = (1e999,'))
    with pytest.raises(UserError) as err:  # their name, our field: the line of ANCHOR_SIZES
        load_training_config(path)
    line = ORIGINAL_FORM.splitlines().index('config.ANCHOR.ANCHOR_SIZES = (16,32,64, 128, 256, 512)') + 1
    assert str(err.value).startswith('%s:%d: config.ANCHOR.sizes = [inf, 32, ' % (path, line))
