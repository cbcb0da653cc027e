"""Config validation: each rule rejects a bad value with a message naming the field."""
import copy
import os

import pytest

from lib.config import SCHEMA, check_pruned_ratio, load_config, parse_pruned_ratio, validate_config
from lib.common.errors import UserError
from lib.model.arch import ALL_GROUPS, PRUNABLE_LAYERS, prunable_groups

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def config():
    return copy.deepcopy(load_config(os.path.join(ROOT, 'pruned_train_config.py')))


def test_default_config_is_valid_and_as_documented(config):
    ratios = validate_config(config, PRUNABLE_LAYERS)
    assert ratios == {name: 0. for name in ALL_GROUPS}
    assert config.TRAIN.round_to == 1
    assert config.TRAIN.lr_value_every_step == [0.001, 0.005, 0.0005]
    assert config.TRAIN.lr_decay_every_step == [1000, 10000]
    assert config.TRAIN.pruned_alpha == 1. and len(config.TRAIN.pruned_ratio) == 15
    assert (config.DATA.hin, config.DATA.win) == (640, 640)
    assert config.MODEL.fpn and config.MODEL.dual_mode


@pytest.mark.parametrize('section, field, value, message', [
    ('TRAIN', 'lr_value_every_step', [0.001, 0.005], 'one more value than lr_decay_every_step'),
    ('TRAIN', 'lr_value_every_step', [0.001, 0., 0.1], 'learning rates > 0'),
    ('TRAIN', 'lr_decay_every_step', [1000, 1000], 'strictly increasing'),
    ('TRAIN', 'lr_decay_every_step', [-5, 1000], 'positive integer steps'),
    ('TRAIN', 'batch_size', 0, 'an integer >= 1'),
    ('TRAIN', 'pruned_ratio', [0.5] * 14, 'a list of 15 (backbone) or 19'),
    ('TRAIN', 'pruned_ratio', [0.5] * 14 + [1.0], 'every ratio in [0, 1)'),
    ('TRAIN', 'pruned_ratio', {'conv9': 0.5}, 'unknown: conv9'),
    ('TRAIN', 'pruned_ratio', 0.5, 'a dict {layer name: ratio}'),
    ('TRAIN', 'optimizer', 'sgd', "'momentum' or 'adam'"),
    ('TRAIN', 'pruned_loss', 'l1', "'activation' or 'activation_per_image' or 'group_lasso'"),
    ('TRAIN', 'worker_timeout_secs', 0, 'a number of seconds in (0, inf)'),
    ('DATA', 'hin', 600, 'a positive multiple of 32'),
    ('DATA', 'win', 0, 'a positive multiple of 32'),
    ('TEST', 'iou_thres', 0., 'an IoU in (0, 1]'),
])
def test_each_rule_rejects_a_bad_value(config, section, field, value, message):
    config[section][field] = value
    with pytest.raises(UserError) as err:
        validate_config(config, PRUNABLE_LAYERS)
    text = str(err.value)
    assert 'config.%s.%s' % (section, field) in text
    assert message in text
    assert '\n' not in text


@pytest.mark.parametrize('section, field, value, message', [
    ('TRAIN', 'bach_size', 2, 'config.TRAIN.bach_size: unknown field; did you mean batch_size?'),
    ('TRIAN', 'epoch', 2, 'config.TRIAN: unknown config section; did you mean TRAIN?'),
    ('MODEL', 'l2_norm', [10.], 'config.MODEL.l2_norm = [10.0]: expected 3 finite numbers > 0'),
    ('TRAIN', 'pruned_alpha', float('nan'), 'config.TRAIN.pruned_alpha = nan: expected a finite number in [0, inf)'),
    ('TRAIN', 'momentum', float('inf'), 'config.TRAIN.momentum = inf: expected a finite number in [0, 1)'),
    ('ANCHOR', 'sizes', [16, 32, 64, 128, 256], 'config.ANCHOR.sizes = [16, 32, 64, 128, 256]: expected 6 finite'),
    ('ANCHOR', 'strides', [4, 8, 16, 32, 64, 128.5], 'config.ANCHOR.strides'),
    ('ANCHOR', 'positive_iou', 1.5, 'config.ANCHOR.positive_iou = 1.5: expected an IoU in (0, 1]'),
    ('TEST', 'score_thres', '0.5', "config.TEST.score_thres = '0.5': expected a score in [0, 1]"),
    ('TEST', 'max_detect', 7.5, 'config.TEST.max_detect = 7.5: expected an integer >= 1'),
    ('MODEL', 'fpn', 'yes', "config.MODEL.fpn = 'yes': expected bool"),
    ('MODEL', 'fpn_dims', [64, 0], 'config.MODEL.fpn_dims'),
    ('DATA', 'PIXEL_MEAN', [1., 2.], 'config.DATA.PIXEL_MEAN = [1.0, 2.0]: expected 3 finite numbers'),
    ('DATA', 'PIXEL_MEAN', [1., float('nan'), 3.], 'config.DATA.PIXEL_MEAN = [1.0, nan, 3.0]: expected 3 finite'),
    ('DATA', 'PIXEL_STD', [1., 2., float('inf')], 'config.DATA.PIXEL_STD = [1.0, 2.0, inf]: expected 3 finite'),
])
def test_strict_fields_one_line_each(config, section, field, value, message):
    """Unknown fields (with a suggestion), wrong types, non-finite numbers, list lengths tied to the network."""
    config.setdefault(section, {})[field] = value
    with pytest.raises(UserError) as err:
        validate_config(config, PRUNABLE_LAYERS)
    assert str(err.value).startswith(message) and '\n' not in str(err.value)


@pytest.mark.parametrize('value', [256, [256] * 6, (128, 256)])
def test_fpn_dims_may_be_one_count_or_a_list(config, value):
    config.MODEL.fpn_dims = value
    validate_config(config, PRUNABLE_LAYERS)


def test_missing_field_is_named(config):
    del config.TRAIN['momentum']
    with pytest.raises(UserError, match=r'config.TRAIN.momentum is missing'):
        validate_config(config, PRUNABLE_LAYERS)


def test_pruned_ratio_forms():
    with_extras = check_pruned_ratio([0.25] * 19, PRUNABLE_LAYERS)
    assert with_extras['extra/extra_conv4'] == 0.25
    backbone_only = check_pruned_ratio([0.5] * 15, PRUNABLE_LAYERS)
    assert backbone_only['fc7'] == 0.5 and backbone_only['extra/extra_conv1'] == 0.
    as_dict = check_pruned_ratio({'vgg_16/conv5/conv5_1': 0.5}, PRUNABLE_LAYERS)
    assert as_dict['vgg_16/conv5/conv5_1'] == 0.5 and sum(as_dict.values()) == 0.5


def test_pruned_ratio_reaches_every_group():
    """A dict names groups or their layers (an FPN conv stands for its level's group); 'all:r' is every group."""
    ratios = check_pruned_ratio({'lateral/res1': 0.5, 'fems2/eyes_2_1': 0.25, 'fc7': 0.125}, PRUNABLE_LAYERS)
    assert ratios['fpn/res1'] == 0.5 and ratios['fems2/eyes_2_1'] == 0.25 and ratios['fc7'] == 0.125
    assert sum(ratios.values()) == 0.875 and set(ratios) == set(ALL_GROUPS)
    assert check_pruned_ratio({'merge/res0': 0.5, 'fpn/res0': 0.5}, PRUNABLE_LAYERS)['fpn/res0'] == 0.5
    assert check_pruned_ratio('all:0.5', PRUNABLE_LAYERS) == dict.fromkeys(ALL_GROUPS, 0.5)
    single_shot = check_pruned_ratio('all:0.25', PRUNABLE_LAYERS, groups=prunable_groups(False))
    assert single_shot == dict.fromkeys(PRUNABLE_LAYERS, 0.25)
    assert check_pruned_ratio([0.5] * 15, PRUNABLE_LAYERS)['fpn/res0'] == 0.  # lists keep their meaning


@pytest.mark.parametrize('ratio, groups, message', [
    ({'fems0/eyes2_1': 0.5}, None, r'unknown: fems0/eyes2_1; did you mean fems0/eyes_2_1\?'),
    ({'fpn/res1': 0.5}, prunable_groups(False), r'MODEL.fpn is False.*unknown: fpn/res1'),
    ({'lateral/res1': 0.5, 'fpn/res1': 0.25}, None, 'one ratio per group'),
    ('all:x', None, "'all:<ratio>' such as 'all:0.5'"),
    ('half', None, "'all:<ratio>'"),
    ('all:1.0', None, r'every ratio in \[0, 1\)'),
    ({'fpn/res2': -0.5}, None, r'every ratio in \[0, 1\)'),
])
def test_pruned_ratio_errors_are_one_line(ratio, groups, message):
    with pytest.raises(UserError, match=message) as error:
        check_pruned_ratio(ratio, PRUNABLE_LAYERS, groups=groups)
    assert '\n' not in str(error.value) and 'TRAIN.pruned_ratio' in str(error.value)


def test_pruned_ratio_from_a_plan_file(config, tmp_path, monkeypatch):
    """TRAIN.pruned_ratio = 'plan.json' (what mac.py --write_plan writes) is read as the {group: ratio} dict;
    a relative path from the working directory."""
    (tmp_path / 'plan.json').write_text('{"fc7": 0.5, "lateral/res1": 0.25, "fems3/eyes_3": 0.75}')
    monkeypatch.chdir(str(tmp_path))
    config.TRAIN.pruned_ratio = 'plan.json'
    ratios = validate_config(config, PRUNABLE_LAYERS)
    assert (ratios['fc7'], ratios['fpn/res1'], ratios['fems3/eyes_3'], ratios['fc6']) == (0.5, 0.25, 0.75, 0.)
    assert set(ratios) == set(ALL_GROUPS)
    assert parse_pruned_ratio('plan.json') == 'plan.json' and parse_pruned_ratio('[0.5]') == [0.5]
    assert parse_pruned_ratio('all:0.5') == 'all:0.5'


@pytest.mark.parametrize('text, message', [
    (None, r"config.TRAIN.pruned_ratio = '.*missing.json': expected a JSON object \{layer or group: ratio\}.*no such "
           'file'),
    ('{"fc7": 0.5,\n "fc6": }', r'bad.json:2 \(TRAIN.pruned_ratio\): not valid JSON'),
    ('[0.5, 0.5]', r'bad.json \(TRAIN.pruned_ratio\): holds a JSON list; expected a JSON object'),
    ('{"fc7": 1.5}', r'TRAIN.pruned_ratio \(read from .*bad.json\) = .*every ratio in \[0, 1\)'),
    ('{"fc77": 0.5}', r'TRAIN.pruned_ratio \(read from .*bad.json\).*unknown: fc77; did you mean fc7\?'),
])
def test_plan_file_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / ('missing.json' if text is None else 'bad.json')
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        check_pruned_ratio(str(path), PRUNABLE_LAYERS)
    assert '\n' not in str(error.value)
    with pytest.raises(UserError, match='--pruned_ratio=oops: expected .* or a plan file ending in .json'):
        parse_pruned_ratio('oops')


@pytest.mark.parametrize('section, field, default', [('TRAIN', 'round_to', 1), ('TEST', 'pre_nms_top_k', 5000)])
def test_a_field_added_later_takes_its_default_and_is_checked(config, section, field, default):
    del config[section][field]  # a config written before the field existed
    validate_config(config, PRUNABLE_LAYERS)
    assert config[section][field] == default
    config[section][field] = 0
    with pytest.raises(UserError, match=r'^config.%s.%s = 0: expected an integer >= 1$' % (section, field)):
        validate_config(config, PRUNABLE_LAYERS)


def test_missing_config_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match='does not exist'):
        load_config(str(tmp_path / 'nope.py'))


def test_entry_points_reject_an_invalid_config(tmp_path):
    """auto_freeze.py and mac.py validate the training config they are given, with the same one-line error."""
    import subprocess
    import sys
    bad = tmp_path / 'bad_config.py'
    bad.write_text('import sys\nsys.path.insert(0, %r)\nfrom pruned_train_config import config\n'
                   'config.DATA.hin = 600\n' % ROOT)
    for command in (['tools/auto_freeze.py', '--config', str(bad), '--ckpt_path', 'x', '--output_path', str(tmp_path)],
                    ['mac.py', '--train_config', str(bad), '--plan']):
        result = subprocess.run([sys.executable] + command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                timeout=600)
        last_line = result.stderr.decode().strip().splitlines()[-1]
        assert result.returncode == 2, result.stderr.decode()[-2000:]
        assert last_line == 'error: config.DATA.hin = 600: expected a positive multiple of 32'


def _count_fields():
    """(section, field) of every field that holds counts (its check is marked so), from the schema itself."""
    return [(section, field) for section, fields in sorted(SCHEMA.items()) for field, check in sorted(fields.items())
            if getattr(check, 'counts', False)]


def _number_fields(config):
    """(section, field) of every field whose default value is a number or a list of numbers (bools aside)."""
    def numeric(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return [(section, field) for section in sorted(SCHEMA) for field, value in sorted(config[section].items())
            if numeric(value) or (isinstance(value, list) and value and all(numeric(v) for v in value))]


def test_the_count_fields_are_all_there():
    assert set(_count_fields()) == {
        ('TRAIN', 'num_gpu'), ('TRAIN', 'process_num'), ('TRAIN', 'prefetch_size'), ('TRAIN', 'batch_size'),
        ('TRAIN', 'epoch'), ('TRAIN', 'log_interval'), ('TRAIN', 'round_to'), ('TRAIN', 'lr_decay_every_step'),
        ('DATA', 'hin'), ('DATA', 'win'), ('DATA', 'seed'), ('ANCHOR', 'strides'), ('MODEL', 'max_to_keep'),
        ('MODEL', 'fpn_dims'), ('MODEL', 'fem_dims'), ('TEST', 'max_detect'),
        ('TEST', 'pre_nms_top_k')}


@pytest.mark.parametrize('section, field', _count_fields())
def test_a_count_accepts_an_integral_float_as_that_count(config, section, field):
    value = config[section][field]
    config[section][field] = [float(v) for v in value] if isinstance(value, list) else float(value)
    validate_config(config, PRUNABLE_LAYERS)
    converted = config[section][field]
    assert converted == value
    assert all(type(v) is int for v in (converted if isinstance(converted, list) else [converted]))


@pytest.mark.parametrize('section, field', _count_fields())
def test_a_count_rejects_a_non_integral_float_in_one_line(config, section, field):
    value = config[section][field]
    bad = value[:-1] + [value[-1] + 0.5] if isinstance(value, list) else value + 0.5
    config[section][field] = bad
    with pytest.raises(UserError) as err:
        validate_config(config, PRUNABLE_LAYERS)
    assert str(err.value).startswith('config.%s.%s = ' % (section, field)) and '\n' not in str(err.value)
    assert 'integer' in str(err.value) or 'multiple of 32' in str(err.value)


def test_negatives_per_positive_is_a_ratio(config):
    """The original's OHEM multiplies positives by it and truncates: 2.5 is a ratio as good as 3 (lib/model/loss)."""
    config.ANCHOR.neg_pos_ratio = 2.5
    validate_config(config, PRUNABLE_LAYERS)
    assert config.ANCHOR.neg_pos_ratio == 2.5
    config.ANCHOR.neg_pos_ratio = 0
    with pytest.raises(UserError, match=r'^config.ANCHOR.neg_pos_ratio = 0: expected a finite number in \(0, inf\)$'):
        validate_config(config, PRUNABLE_LAYERS)


@pytest.mark.parametrize('bad', [float('inf'), float('-inf'), float('nan'), 1e39])
def test_every_number_is_finite_in_float32_lists_too(config, bad):
    """inf, nan, or a value beyond float32 (what the graphs compute in): rejected at start, naming the field,
    in every numeric field and list; none passes the start checks to fail at step 1."""
    fields = _number_fields(config)
    assert len(fields) >= 30 and ('TRAIN', 'lr_value_every_step') in fields and ('DATA', 'PIXEL_MEAN') in fields
    for section, field in fields:
        broken = copy.deepcopy(config)
        value = broken[section][field]
        broken[section][field] = [bad] + value[1:] if isinstance(value, list) else bad
        with pytest.raises(UserError) as err:
            validate_config(broken, PRUNABLE_LAYERS)
        assert str(err.value).startswith('config.%s.%s = ' % (section, field)), (section, field, str(err.value))
        assert '\n' not in str(err.value)


@pytest.mark.parametrize('section, field, value, message', [
    ('TRAIN', 'lr_value_every_step', [float('inf'), 0.005, 0.0005],
     'config.TRAIN.lr_value_every_step = [inf, 0.005, 0.0005]: expected finite learning rates > 0'),
    ('TRAIN', 'lr_value_every_step', [0.001, -0.005, 0.0005],
     'config.TRAIN.lr_value_every_step = [0.001, -0.005, 0.0005]: expected finite learning rates > 0'),
    ('TRAIN', 'lr_decay_every_step', [1000, True], 'config.TRAIN.lr_decay_every_step = [1000, True]: expected '
                                                   'positive integer steps'),
    ('DATA', 'PIXEL_MEAN', [float('nan'), 116., 103.], 'config.DATA.PIXEL_MEAN = [nan, 116.0, 103.0]: expected 3 '
                                                       'finite numbers'),
    ('TEST', 'max_detect', 2 ** 31, 'config.TEST.max_detect = 2147483648: expected an integer in [1, 2147483647] '
                                    '(the graphs count in int32)'),
    ('TRAIN', 'batch_size', 2.5, 'config.TRAIN.batch_size = 2.5: expected an integer >= 1'),
])
def test_values_that_would_fail_later_are_one_line_at_start(config, section, field, value, message):
    config[section][field] = value
    with pytest.raises(UserError) as err:
        validate_config(config, PRUNABLE_LAYERS)
    assert str(err.value).startswith(message) and '\n' not in str(err.value)
