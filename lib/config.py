"""Training configs: load a config module by path, validate it, and build what it describes.

``load_training_config`` is what every entry point that reads a training config calls; each rule raises a
UserError naming the field, the value and what is expected. The builders (``dense_architecture``,
``anchor_spec``, ``target_assigner``, ``inference_graph``) are the one place a config becomes model objects.
"""
import ast
import importlib.util
import json
import logging
import math
import numbers
import os

from lib.anchors.generator import anchor_spec_from_config
from lib.anchors.matcher import AnchorTargetAssigner
from lib.common.checks import did_you_mean, finite_numbers, int_at_least, int_or_ints, kind, real
from lib.common.errors import UserError, where
from lib.common.image import check_input_size
from lib.model.arch import (ALL_GROUPS, FPN_GROUPS, PRUNABLE_LAYERS, Architecture, group_convs, group_of,
                            prunable_groups)
from lib.model.dsfd import build_inference_graph
from lib.original.config import apply_original_config, is_original_config, locate

log = logging.getLogger(__name__)


# The defaults an original-form config (lib.original.config) is applied onto: this project's training config.
DEFAULT_TRAINING_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                       'pruned_train_config.py')


def load_config(path):
    """Import the config module at ``path`` (e.g. pruned_train_config.py) and return its ``config``.

    A config in the original's form is not run: its literal fields are read onto DEFAULT_TRAINING_CONFIG
    (lib.original.config)."""
    if not os.path.isfile(path):
        raise UserError('config file %s does not exist' % path)
    if is_original_config(path):
        log.info("%s is in the original's form: its literal fields are read, the file is not run", path)
        return apply_original_config(path, load_config(DEFAULT_TRAINING_CONFIG))
    name = '_pruned_dsfd_config_' + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, 'config'):
        raise UserError('config file %s defines no `config`' % path)
    return module.config


def load_training_config(path):
    """``load_config`` + ``validate_config``: what every entry point that reads a training config calls."""
    config = load_config(path)
    try:
        validate_config(config, PRUNABLE_LAYERS)
    except UserError as err:
        if not is_original_config(path):
            raise
        raise UserError(locate(path, str(err)))  # our field names; the line is the file's
    return config


def _fail(field, value, expected):
    """One line: the field (config.SECTION.field, or a --flag as given), its value and what was expected."""
    raise UserError('%s = %r: expected %s' % (field if field.startswith('--') else 'config.' + field, value, expected))


def check_lr_schedule(values, boundaries, field='TRAIN'):
    """values/boundaries of a piecewise-constant LR: len(values) == len(boundaries) + 1, etc."""
    if not isinstance(values, (list, tuple)) or not values:
        _fail(field + '.lr_value_every_step', values, 'a non-empty list of learning rates')
    if not isinstance(boundaries, (list, tuple)):
        _fail(field + '.lr_decay_every_step', boundaries, 'a list of step numbers')
    if len(values) != len(boundaries) + 1:
        _fail(field + '.lr_value_every_step', values,
              'one more value than lr_decay_every_step has boundaries (%d), got %d'
              % (len(boundaries), len(values)))
    for v in values:
        if not real(v) or not v > 0:
            _fail(field + '.lr_value_every_step', values, 'finite learning rates > 0')
    for b in boundaries:
        if isinstance(b, bool) or not isinstance(b, numbers.Integral) or b <= 0:
            _fail(field + '.lr_decay_every_step', boundaries, 'positive integer steps')
    if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
        _fail(field + '.lr_decay_every_step', boundaries, 'strictly increasing steps')


def _ratio_dict(ratio, groups, field):
    """{group: ratio} of a dict whose keys are group names or their layers' names ('lateral/res1' -> 'fpn/res1')."""
    known = list(groups) + [name for name in _layer_aliases() if group_of(name) in groups]
    values = {}
    for name, value in ratio.items():
        if name not in known:
            hint = ' (MODEL.fpn is False: no FPN/FEM)' if name in ALL_GROUPS or group_of(name) != name else ''
            _fail(field, ratio, 'keys among the prunable layers and groups%s; unknown: %s%s'
                  % (hint, name, did_you_mean(str(name), known)))
        group = group_of(name)
        if group in values and values[group] != value:
            _fail(field, ratio, 'one ratio per group; %s and another key of group %s differ' % (name, group))
        values[group] = value
    return values


def _layer_aliases():
    """Layer names that are not group names themselves: the FPN convs ('lateral/res0', 'merge/res0', ...)."""
    return [conv for group in FPN_GROUPS for conv in group_convs(group)]


def _ratio_all(ratio, groups, field):
    """{group: r} for every group of 'all:r'."""
    try:
        value = float(ratio.split(':', 1)[1]) if ratio.startswith('all:') else None
    except ValueError:
        value = None
    if value is None:
        _fail(field, ratio, "'all:<ratio>' such as 'all:0.5' (every prunable group)")
    return dict.fromkeys(groups, value)


def parse_pruned_ratio(text, flag='--pruned_ratio'):
    """A --pruned_ratio flag's value: 'all:r' and a path ending in .json stay strings (check_pruned_ratio reads
    them); anything else is read as a Python literal (a list or a dict)."""
    if text.startswith('all:') or text.endswith('.json'):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UserError("%s=%s: expected a Python list such as '[0.5, 0.5, ...]', a dict, 'all:0.5' or a plan "
                        "file ending in .json" % (flag, text))


def read_ratio_file(path, field):
    """The {layer or group: ratio} dict of a pruned_ratio JSON file (what `mac.py --write_plan` writes)."""
    expected = 'a JSON object {layer or group: ratio} such as mac.py --write_plan writes'
    if not os.path.isfile(path):
        _fail(field, path, '%s; no such file (relative paths are read from the working directory %s)'
              % (expected, os.getcwd()))
    try:
        with open(path) as f:
            ratio = json.load(f)
    except ValueError as err:  # json.JSONDecodeError; a file that is not UTF-8 too
        raise UserError('%s (%s): not valid JSON (%s); expected %s'
                        % (where(path, getattr(err, 'lineno', None)), field, getattr(err, 'msg', err), expected))
    if not isinstance(ratio, dict):
        raise UserError('%s (%s): holds a JSON %s; expected %s' % (path, field, type(ratio).__name__, expected))
    return ratio


def check_pruned_ratio(ratio, layer_names, num_backbone=15, field='TRAIN.pruned_ratio', groups=None):
    """Normalise ``ratio`` to {group: ratio} for every group of ``groups`` (default: all, FPN and FEM included).

    Forms: a list of 15 (backbone) or 19 (backbone + extras) ratios in the order of ``layer_names``; a dict
    {layer or group: ratio} ('fpn/res1' or either of its convs 'lateral/res1', 'merge/res1'; 'fems0/eyes_2_1');
    the string 'all:r' (every group); a path ending in .json holding such a dict (a `mac.py --write_plan` plan).
    Groups not named get 0.
    """
    groups = list(ALL_GROUPS if groups is None else groups)
    if isinstance(ratio, str) and ratio.endswith('.json'):
        return check_pruned_ratio(read_ratio_file(ratio, field), layer_names, num_backbone,
                                  '%s (read from %s)' % (field, ratio), groups)
    if isinstance(ratio, dict):
        given = _ratio_dict(ratio, groups, field)
    elif isinstance(ratio, (list, tuple)):
        if len(ratio) not in (num_backbone, len(layer_names)):
            _fail(field, ratio, 'a list of %d (backbone) or %d (backbone + extras) ratios in the order %s, got %d'
                  % (num_backbone, len(layer_names), ', '.join(layer_names), len(ratio)))
        given = dict(zip(layer_names, ratio))
    elif isinstance(ratio, str):
        given = _ratio_all(ratio, groups, field)
    else:
        _fail(field, ratio, "a list of %d or %d floats, a dict {layer name: ratio} (layers or pruning groups), "
              "'all:<ratio>' or a plan file ending in .json" % (num_backbone, len(layer_names)))
    for v in given.values():
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0. <= v < 1.:
            _fail(field, ratio, 'every ratio in [0, 1)')
    return dict((group, float(given.get(group, 0.))) for group in groups)


def check_positive_int(field, value, minimum=1):
    """``value`` as an int >= ``minimum`` (an integral float such as 3.0 is that count); else a UserError."""
    count = as_count(value)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < minimum:
        _fail(field, value, 'an integer >= %d' % minimum)
    return int(count)


def as_count(value):
    """``value`` with every integral float in it (3.0, also inside a list or tuple) made the int it counts (3);
    anything else unchanged, for the count's check to accept or reject. The original's configs write counts as
    floats (MODEL.max_negatives_per_positive = 3.0)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return type(value)(as_count(v) for v in value)
    return value


# ------------------------------------------------------------------------------------------- field schema
# Each check returns None for a good value, else what was expected (the message's tail).

def _counts(check):
    """Marks ``check`` as the check of a field that holds counts: check_fields applies as_count first."""
    check.counts = True
    return check


def _checked_later():
    """A field checked with the fields it depends on, in validate_config."""
    return lambda value: None


def _count_at_least(minimum):
    """int_at_least for a count field (an integral float is the count it writes)."""
    return _counts(int_at_least(minimum))


def _number_in(low, high, low_open=False, high_open=False, what='a finite number'):
    def check(value):
        ok = real(value) and (value > low if low_open else value >= low) and \
            (high is None or (value < high if high_open else value <= high))
        return None if ok else '%s in %s%s, %s%s' % (what, '(' if low_open else '[', low,
                                                     'inf' if high is None else high,
                                                     ')' if high_open or high is None else ']')
    return check


def _positive_ints(count):
    def check(value):
        ok = isinstance(value, (list, tuple)) and len(value) == count and \
            all(int_at_least(1)(v) is None for v in value)
        return None if ok else '%d integers >= 1' % count
    return _counts(check)


def _one_of(*choices):
    return lambda value: None if value in choices and type(value) is type(choices[0]) else \
        ' or '.join(repr(c) for c in choices)


_count_or_counts = _counts(lambda value: int_or_ints(value))  # MODEL.fpn_dims
NUM_LEVELS = 6  # DSFD's detection levels: one anchor stride and size each
SCHEMA = {
    'TRAIN': {
        'num_gpu': _count_at_least(1), 'process_num': _count_at_least(0), 'prefetch_size': _count_at_least(1),
        'batch_size': _count_at_least(1), 'epoch': _count_at_least(1), 'log_interval': _count_at_least(1),
        'rolling_checkpoint_secs': _number_in(0, None), 'lr_value_every_step': _checked_later(),
        'lr_decay_every_step': _counts(_checked_later()),
        'optimizer': _one_of('momentum', 'adam'), 'momentum': _number_in(0, 1, high_open=True),
        'weight_decay_factor': _number_in(0, None), 'gradient_clip': _number_in(0, None),
        'worker_timeout_secs': _number_in(0, None, low_open=True, what='a number of seconds'),
        'pruned_alpha': _number_in(0, None),
        'pruned_loss': _one_of('activation', 'activation_per_image', 'group_lasso'),
        'pruned_ratio': _checked_later(), 'round_to': _count_at_least(1),
        'distill_teacher': kind(str, type(None)), 'distill_cls_weight': _number_in(0, None),
        'distill_temperature': _number_in(0, None, low_open=True), 'distill_box_weight': _number_in(0, None),
        'distill_feature_weight': _number_in(0, None),
    },
    'DATA': {
        'root_path': kind(str), 'train_txt_path': kind(str), 'val_txt_path': kind(str),
        'hin': _counts(_checked_later()), 'win': _counts(_checked_later()), 'PIXEL_MEAN': finite_numbers(3),
        'PIXEL_STD': finite_numbers(3, positive=True), 'seed': _count_at_least(0),
    },
    'ANCHOR': {
        'strides': _positive_ints(NUM_LEVELS), 'sizes': finite_numbers(NUM_LEVELS, positive=True),
        'aspect_ratio': _number_in(0, None, low_open=True), 'first_shot_scale': _number_in(0, None, low_open=True),
        'positive_iou': _number_in(0, 1, low_open=True, what='an IoU'), 'encode_scale': _number_in(0, None, low_open=True),
        'neg_pos_ratio': _number_in(0, None, low_open=True),  # a real ratio, as the original's
    },
    'MODEL': {
        'model_path': kind(str), 'pretrained_model': kind(str, type(None)), 'decimate_imagenet_fc': kind(bool),
        'continue_train': kind(bool), 'resume': kind(bool), 'max_to_keep': _count_at_least(1), 'net_structure': _one_of('vgg_16'),
        'fpn': kind(bool), 'dual_mode': kind(bool), 'maxout': kind(bool),
        'l2_norm': finite_numbers(3, positive=True), 'fpn_dims': _count_or_counts, 'fem_dims': _count_at_least(1),
        'width_mult': _number_in(0, None, low_open=True),
    },
    'TEST': {
        'score_thres': _number_in(0, 1, what='a score'), 'iou_thres': _number_in(0, 1, low_open=True, what='an IoU'),
        'max_detect': _count_at_least(1), 'pre_nms_top_k': _count_at_least(1),
    },
}
# Fields a config may omit (configs written before the field existed), with the value they then take.
SCHEMA_DEFAULTS = {'TRAIN.round_to': 1, 'TRAIN.distill_teacher': None, 'TRAIN.distill_cls_weight': 1.,
                   'TRAIN.distill_temperature': 2., 'TRAIN.distill_box_weight': 1., 'TRAIN.distill_feature_weight': 0.,
                   'TEST.pre_nms_top_k': 5000}
SCHEMA_COMMENTS = {'MODEL.l2_norm': ' (the L2Norm scales of conv3_3, conv4_3, conv5_3)',
                   'ANCHOR.strides': ' (one per detection level)', 'ANCHOR.sizes': ' (one per detection level)'}


def check_fields(config, schema=SCHEMA):
    """Every section and field of ``config`` is known to ``schema`` ({section: {field: check}}), none is missing,
    and each passes its check; else one UserError naming the field (with a "did you mean" for a misspelling).
    A missing field of SCHEMA_DEFAULTS is set to its default."""
    for section in config:
        if section not in schema:
            raise UserError('config.%s: unknown config section%s' % (section, did_you_mean(section, list(schema))))
    for section, fields in sorted(schema.items()):
        values = config.get(section)
        if not isinstance(values, dict):
            raise UserError('config.%s is missing or not a section (an EasyDict of fields); copy it from '
                            'pruned_train_config.py' % section)
        for field in values:
            if field not in fields:
                raise UserError('config.%s.%s: unknown field%s' % (section, field, did_you_mean(field, list(fields))))
        for field, check in sorted(fields.items()):
            if field not in values and '%s.%s' % (section, field) in SCHEMA_DEFAULTS:
                values[field] = SCHEMA_DEFAULTS['%s.%s' % (section, field)]
            if field not in values:
                raise UserError('config.%s.%s is missing; copy it from pruned_train_config.py' % (section, field))
            if getattr(check, 'counts', False):
                values[field] = as_count(values[field])
            expected = check(values[field])
            if expected is not None:
                _fail('%s.%s' % (section, field), values[field],
                      expected + SCHEMA_COMMENTS.get('%s.%s' % (section, field), ''))


def validate_config(config, layer_names):
    """Check every field and rule of the training config; return {group: ratio} of the normalised pruned_ratio
    (``layer_names``: the order of its list form; the groups are the model's, FPN/FEM only with MODEL.fpn)."""
    check_fields(config)
    train, data = config.TRAIN, config.DATA
    check_lr_schedule(train.lr_value_every_step, train.lr_decay_every_step)
    if train.batch_size % train.num_gpu:
        _fail('TRAIN.batch_size', train.batch_size, 'a multiple of TRAIN.num_gpu (%d)' % train.num_gpu)
    check_input_size((data.hin, data.win), sides=('config.DATA.hin', 'config.DATA.win'))
    return check_pruned_ratio(train.pruned_ratio, layer_names, groups=prunable_groups(config.MODEL.fpn))


# ----------------------------------------------------------------------------------------------- builders

def dense_architecture(config):
    """The dense Architecture of config.MODEL (width_mult applied)."""
    return Architecture.from_model_config(config.MODEL)


def anchor_spec(config):
    """The AnchorSpec of config.ANCHOR."""
    return anchor_spec_from_config(config.ANCHOR)


def target_assigner(config, arch, input_size):
    """The anchor target assigner of ``arch``'s shots at ``input_size`` (H, W) under config.ANCHOR."""
    return AnchorTargetAssigner(tuple(input_size), anchor_spec(config), arch.shots, config.ANCHOR.positive_iou,
                                config.ANCHOR.encode_scale)


def inference_graph(config, arch, input_shape=None):
    """The inference graph of ``arch`` in the default graph, thresholds and normalisation from the config:
    (images placeholder, {output name: tensor}, endpoints)."""
    return build_inference_graph(arch, anchor_spec(config), config.ANCHOR.encode_scale, config.TEST,
                                 config.DATA.PIXEL_MEAN, config.DATA.PIXEL_STD, input_shape)
