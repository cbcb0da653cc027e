"""Files the tools read are validated where they are read, like a config: a checkpoint's .arch.json, its
.index / .data parts, images (a pixel-count guard before decoding). Each row of the tables below is one bad input
and its expected outcome, so the rows can be lifted into the bad-input table of every entry point."""
import json
import logging
import os
import struct

import cv2
import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from lib import checkpoint
from lib.common import image as image_lib
from lib.common.errors import UserError
from lib.model.arch import Architecture

MODEL = dict(width_mult=0.25, fpn_dims=[256, 512, 512], fem_dims=512, fpn=True, dual_mode=True, maxout=True,
             l2_norm=[10., 8., 5.])


def _arch(width=0.25):
    from easydict import EasyDict
    return Architecture.from_model_config(EasyDict(MODEL, width_mult=width))


def _good_arch_fields():
    return json.loads(_arch().with_normalisation([123., 117., 104.], [58., 57., 57.]).to_json())


# (row id, change to a good .arch.json's fields, text the one-line error must hold besides the file name)
ARCH_ROWS = [
    ('std_zero', {'pixel_std': [0, 0, 0]}, 'pixel_std = [0, 0, 0]: expected 3 finite numbers > 0'),
    ('mean_two', {'pixel_mean': [1., 2.]}, 'pixel_mean = [1.0, 2.0]: expected 3 finite numbers'),
    ('mean_nan', {'pixel_mean': [float('nan'), 1., 2.]}, 'pixel_mean = [nan, 1.0, 2.0]: expected 3 finite'),
    ('channel_negative', {'channels': {'fc6': -3}}, "fc6 is -3"),
    ('channel_zero', {'channels': {'fc6': 0}}, 'fc6 is 0'),
    ('channel_float', {'channels': {'fc6': 2.5}}, 'fc6 is 2.5'),
    ('channel_unknown_group', {'channels': {'fc8': 4}}, 'unknown: fc8'),
    ('channels_list', {'channels': [1, 2]}, 'channels = [1, 2]: expected an object'),
    ('fpn_string', {'fpn': 'yes'}, "fpn = 'yes': expected bool"),
    ('fem_dims_zero', {'fem_dims': 0}, 'fem_dims = 0: expected an integer >= 1'),
    ('l2_norm_short', {'l2_norm': [10.]}, 'l2_norm = [10.0]: expected 3 finite numbers > 0'),
    ('unknown_field', {'pixel_stdev': [1, 1, 1]}, 'unknown field pixel_stdev; did you mean pixel_std?'),
    ('missing_channels', {'channels': None}, 'field channels is missing'),
    ('not_an_object', [1, 2], 'holds a JSON list'),
]


@pytest.mark.parametrize('row, change, message', ARCH_ROWS, ids=[r[0] for r in ARCH_ROWS])
def test_bad_arch_file_is_one_line_naming_file_and_field(tmp_path, row, change, message):
    prefix = str(tmp_path / 'epoch_1.ckpt')
    fields = _good_arch_fields()
    if isinstance(change, dict):
        fields.update(change)
        fields = {name: value for name, value in fields.items() if value is not None}
    else:
        fields = change
    with open(checkpoint.arch_path(prefix), 'w') as f:
        json.dump(fields, f)
    with pytest.raises(UserError) as err:
        checkpoint.load_arch(prefix, _arch())
    text = str(err.value)
    assert text.startswith(checkpoint.arch_path(prefix) + ': ') and message in text and '\n' not in text


def test_good_arch_file_and_old_19_layer_file_load(tmp_path):
    prefix = str(tmp_path / 'a.ckpt')
    fields = _good_arch_fields()
    fields['channels'] = {name: fields['channels'][name] for name in list(fields['channels'])[:19]}
    for name in ('fpn', 'dual_mode', 'maxout', 'l2_norm', 'pixel_mean', 'pixel_std'):  # optional in old files
        del fields[name]
    with open(checkpoint.arch_path(prefix), 'w') as f:
        json.dump(fields, f)
    assert checkpoint.load_arch(prefix, None) == _arch()


def test_arch_file_overriding_the_config_is_logged(tmp_path, caplog):
    """A pretrained model's .arch.json of another width wins over the config, in one log line saying so."""
    prefix = str(tmp_path / 'pre.ckpt')
    checkpoint.save_arch(prefix, _arch(0.125))
    with caplog.at_level(logging.INFO, logger='lib.checkpoint'):
        arch = checkpoint.load_arch(prefix, _arch(0.25))
    assert arch == _arch(0.125)
    lines = [r.getMessage() for r in caplog.records if 'overrides the config' in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(checkpoint.arch_path(prefix) + ' overrides the config: width_mult 0.25 -> 0.125: ')
    assert 'vgg_16/conv1/conv1_1 16 -> 8' in lines[0] and 'fem_dims 128 -> 64' in lines[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger='lib.checkpoint'):
        checkpoint.load_arch(prefix, _arch(0.125))
    assert not [r for r in caplog.records if 'overrides' in r.getMessage()]


# ------------------------------------------------------------------------------------- checkpoint parts

def _tiny_checkpoint(tmp_path):
    prefix = str(tmp_path / 'tiny.ckpt')
    checkpoint.write_checkpoint({'w': np.arange(4096, dtype=np.float32)}, prefix)
    return prefix


def _remove_data(prefix):
    os.remove(prefix + '.data-00000-of-00001')


def _remove_index(prefix):
    os.remove(prefix + '.index')


def _corrupt_data(prefix):
    path = prefix + '.data-00000-of-00001'
    data = bytearray(open(path, 'rb').read())
    data[100:200] = b'\x07' * 100
    with open(path, 'wb') as f:
        f.write(bytes(data))


def _truncate_data(prefix):
    path = prefix + '.data-00000-of-00001'
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])


def _read_values(prefix):
    checkpoint.read_checkpoint(prefix)


def _read_shapes(prefix):
    checkpoint.read_shapes(prefix)


def _restore(prefix):
    with tf.Graph().as_default():
        variable = tf.Variable(np.zeros(4096, np.float32), name='w')
        with tf.Session() as session:
            checkpoint.restore(session, tf.train.Saver([variable]), prefix)


# (row id, fault, reader, text the one-line error must hold, after the checkpoint prefix)
PART_ROWS = [
    ('data_missing_read', _remove_data, _read_values, 'its data file %s.data-00000-of-00001 is missing'),
    ('data_missing_shapes', _remove_data, _read_shapes, 'its data file %s.data-00000-of-00001 is missing'),
    ('data_missing_restore', _remove_data, _restore, 'its data file %s.data-00000-of-00001 is missing'),
    ('index_missing_read', _remove_index, _read_values, 'its index file %s.index is missing'),
    ('index_missing_restore', _remove_index, _restore, 'its index file %s.index is missing'),
    ('data_corrupt_read', _corrupt_data, _read_values, 'its data file is truncated or corrupt'),
    ('data_corrupt_restore', _corrupt_data, _restore, 'its data file is truncated or corrupt'),
    ('data_truncated_read', _truncate_data, _read_values, 'its data file is truncated or corrupt'),
]


@pytest.mark.parametrize('row, fault, reader, message', PART_ROWS, ids=[r[0] for r in PART_ROWS])
def test_missing_or_corrupt_checkpoint_part_is_named(tmp_path, row, fault, reader, message):
    prefix = _tiny_checkpoint(tmp_path)
    fault(prefix)
    with pytest.raises(UserError) as err:
        reader(prefix)
    text = str(err.value)
    assert prefix in text and (message % prefix if '%s' in message else message) in text
    assert 'does not fit' not in text and '\n' not in text


# ---------------------------------------------------------------------------------------------- images

def _bomb(path, width=30000, height=30000):
    """A tiny JPEG whose frame header claims width x height (what a decompression bomb looks like)."""
    data = bytearray(cv2.imencode('.jpg', np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    with open(path, 'wb') as f:
        f.write(bytes(data))
    return path


@pytest.mark.parametrize('ext', ['.jpg', '.png', '.bmp'])
def test_header_size_of_each_format(tmp_path, ext):
    data = cv2.imencode(ext, np.zeros((37, 53, 3), np.uint8))[1]
    assert image_lib.header_size(data) == (53, 37)
    assert image_lib.header_size(np.frombuffer(b'GIF89a' + b'\0' * 20, np.uint8)) is None


def test_oversized_image_is_skipped_like_an_unreadable_one(tmp_path, caplog):
    path = _bomb(str(tmp_path / 'bomb.jpg'))
    assert os.path.getsize(path) < 2000
    with caplog.at_level(logging.WARNING, logger='lib.common.image'):
        assert image_lib.read_image(path) is None
    assert [r.getMessage() for r in caplog.records] == [
        '%s: its header says 30000 x 30000 = 900,000,000 pixels, above --max_image_pixels 100,000,000; skipped '
        'like an unreadable image (raise the flag to read it)' % path]
    normal = str(tmp_path / 'ok.png')
    cv2.imwrite(normal, np.full((40, 30, 3), 9, np.uint8))
    assert image_lib.read_image(normal, max_image_pixels=1200).shape == (40, 30, 3)
    assert image_lib.read_image(normal, max_image_pixels=1199) is None


def test_wider_run_writes_an_oversized_image_like_an_unreadable_one(tmp_path):
    """tools/wider.py on a folder holding a decompression bomb: 0 detections and listed as unreadable, never
    decoded (the detector is never called); --max_image_pixels is forwarded to --workers processes."""
    from lib.inference.wider import list_images, run_wider
    from tools import wider as wider_tool
    event = tmp_path / 'data' / 'images' / '1--Handshaking'
    event.mkdir(parents=True)
    bomb = _bomb(str(event / 'bomb.jpg'))
    summary = run_wider(None, list_images(str(tmp_path / 'data')), str(tmp_path / 'result'), progress=False)
    assert summary.unreadable == [bomb] and summary.written == 1
    with open(str(tmp_path / 'result' / '1--Handshaking' / 'bomb.txt')) as f:
        assert f.read().split('\n')[:2] == ['bomb', '0']
    args = wider_tool.parse_args(['--model', 'm.pb', '--data_dir', 'd', '--result', 'r', '--max_image_pixels', '7'])
    assert args.max_image_pixels == 7
    argv = wider_tool.worker_argv(args, (0, 2))
    assert argv[argv.index('--max_image_pixels') + 1] == '7'


@pytest.mark.parametrize('value', ['0', '-5', 'lots'])
def test_max_image_pixels_flag_rejects_a_bad_value(value, capsys):
    from tools import vis
    with pytest.raises(SystemExit) as exit_:
        vis.parse_args(['--model', 'm.pb', '--images', 'i', '--out', 'o', '--max_image_pixels', value])
    assert exit_.value.code == 2
    assert "--max_image_pixels: expected an integer >= 1 (width x height), got '%s'" % value in capsys.readouterr().err


def test_oversized_calibration_image_is_one_line_naming_it_and_the_flag(tmp_path):
    """mac.py / sensitivity calibration: an image it cannot use is a one-line error naming it and the flag."""
    from lib.pruning.calibration import load_letterboxed
    bomb = _bomb(str(tmp_path / 'bomb.jpg'))
    with pytest.raises(UserError) as err:
        load_letterboxed(bomb, [], (64, 64), (0., 0., 0.))
    assert str(err.value) == ('cannot read image %s (missing, not an image, or above --max_image_pixels 100000000)'
                              % bomb)


@pytest.mark.parametrize('script', ['pruned_train', 'mac', 'tools.auto_freeze', 'tools.vis', 'tools.wider'])
def test_every_image_reading_script_has_the_flag(script):
    import importlib
    parser_argv = {'pruned_train': [], 'mac': [], 'tools.auto_freeze': ['--ckpt_path', 'c', '--output_path', 'o'],
                   'tools.vis': ['--model', 'm', '--images', 'i', '--out', 'o'],
                   'tools.wider': ['--model', 'm', '--data_dir', 'd', '--result', 'r']}[script]
    module = importlib.import_module(script)
    assert module.parse_args(parser_argv).max_image_pixels == image_lib.MAX_IMAGE_PIXELS
    assert module.parse_args(parser_argv + ['--max_image_pixels', '12']).max_image_pixels == 12


def test_training_loader_skips_an_oversized_image_like_an_unreadable_one(tmp_path):
    from lib.data.loader import BatchMaker
    bomb = _bomb(str(tmp_path / 'bomb.jpg'))
    normal = str(tmp_path / 'ok.png')
    cv2.imwrite(normal, np.full((40, 30, 3), 9, np.uint8))
    boxes = np.array([[1, 1, 20, 20]], np.float32)
    maker = BatchMaker([(bomb, boxes), (normal, boxes)], (64, 64), False, None, (0., 0., 0.), [16.] * 6, 1200)
    assert maker.sample(0, np.random.RandomState(0)) is None
    image, _ = maker.sample(1, np.random.RandomState(0))
    assert image.shape == (64, 64, 3)
    assert BatchMaker([(normal, boxes)], (64, 64), False, None, (0., 0., 0.), [16.] * 6, 1199).sample(
        0, np.random.RandomState(0)) is None


# ------------------------------------------------------------------------------------ mask and plan files

def _read_mask(path):
    from lib.pruning.masks import read_mask
    read_mask(path)


def _read_plan(path):
    """What pruned_train.py / mac.py do with --pruned_ratio=plan.json (and TRAIN.pruned_ratio = 'plan.json')."""
    from lib.config import check_pruned_ratio
    from lib.model.arch import PRUNABLE_LAYERS
    check_pruned_ratio(path, PRUNABLE_LAYERS, field='--pruned_ratio')


# (row id, reader, file name, file content, text the one-line error must hold besides the file name)
JSON_FILE_ROWS = [
    ('mask_unknown_field', _read_mask, 'e.ckpt.mask.json', {'kept': {'fc6': [0]}, 'critrion': 'l1'},
     'unknown field critrion; did you mean criterion?'),
    ('mask_unknown_group', _read_mask, 'e.ckpt.mask.json', {'kept': {'fc8': [0]}}, 'names unknown layers fc8'),
    ('mask_negative_index', _read_mask, 'e.ckpt.mask.json', {'kept': {'fc6': [-1]}}, 'kept.fc6'),
    ('mask_empty_group', _read_mask, 'e.ckpt.mask.json', {'kept': {'fc6': []}}, 'kept.fc6'),
    ('mask_no_kept', _read_mask, 'e.ckpt.mask.json', {'criterion': 'l1'}, 'expected an object with "kept"'),
    ('plan_ratio_one', _read_plan, 'plan.json', {'fc6': 1.0}, 'every ratio in [0, 1)'),
    ('plan_ratio_nan', _read_plan, 'plan.json', {'fc6': float('nan')}, 'every ratio in [0, 1)'),
    ('plan_ratio_string', _read_plan, 'plan.json', {'fc6': '0.5'}, 'every ratio in [0, 1)'),
    ('plan_unknown_group', _read_plan, 'plan.json', {'fc8': 0.5}, 'unknown: fc8'),
    ('plan_a_list', _read_plan, 'plan.json', [0.5, 0.5], 'holds a JSON list'),
]


@pytest.mark.parametrize('row, reader, name, content, message', JSON_FILE_ROWS, ids=[r[0] for r in JSON_FILE_ROWS])
def test_bad_mask_or_plan_file_is_one_line_naming_it(tmp_path, row, reader, name, content, message):
    path = str(tmp_path / name)
    with open(path, 'w') as f:
        json.dump(content, f)
    with pytest.raises(UserError) as err:
        reader(path)
    assert path in str(err.value) and message in str(err.value) and '\n' not in str(err.value)
