"""Training configs: load a config module by path, validate it, and build what it describes.

``load_training_config`` is what every entry point that reads a training config calls; each rule raises a
UserError naming the field, the value and what is expected. The builders (``dense_architecture``,
``anchor_spec``, ``target_assigner``, ``inference_graph``) are the one place a config becomes model objects.
"""
import importlib.util
import numbers
import os

from lib.anchors.generator import anchor_spec_from_config
from lib.anchors.matcher import AnchorTargetAssigner
from lib.common.errors import UserError
from lib.common.image import check_input_size
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.model.dsfd import build_inference_graph


def load_config(path):
    """Import the config module at ``path`` (e.g. pruned_train_config.py) and return its ``config``."""
    if not os.path.isfile(path):
        raise UserError('config file %s does not exist' % path)
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
    validate_config(config, PRUNABLE_LAYERS)
    return config


def _fail(field, value, expected):
    raise UserError('config.%s = %r: expected %s' % (field, value, expected))


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
        if not isinstance(v, numbers.Real) or not v > 0:
            _fail(field + '.lr_value_every_step', values, 'learning rates > 0')
    for b in boundaries:
        if not isinstance(b, numbers.Integral) or b <= 0:
            _fail(field + '.lr_decay_every_step', boundaries, 'positive integer steps')
    if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
        _fail(field + '.lr_decay_every_step', boundaries, 'strictly increasing steps')


def check_pruned_ratio(ratio, layer_names, num_backbone=15, field='TRAIN.pruned_ratio'):
    """Normalise ``ratio`` (list of 15 or 19 floats, or {layer: ratio}) to {layer name: ratio} for all layers."""
    if isinstance(ratio, dict):
        unknown = sorted(set(ratio) - set(layer_names))
        if unknown:
            _fail(field, ratio, 'keys among the prunable layers (%s); unknown: %s'
                  % (', '.join(layer_names), ', '.join(unknown)))
        values = [ratio.get(name, 0.) for name in layer_names]
    elif isinstance(ratio, (list, tuple)):
        if len(ratio) not in (num_backbone, len(layer_names)):
            _fail(field, ratio, 'a list of %d (backbone) or %d (backbone + extras) ratios in the order %s, got %d'
                  % (num_backbone, len(layer_names), ', '.join(layer_names), len(ratio)))
        values = list(ratio) + [0.] * (len(layer_names) - len(ratio))
    else:
        _fail(field, ratio, 'a list of %d or %d floats, or a dict {layer name: ratio}'
              % (num_backbone, len(layer_names)))
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not 0. <= v < 1.:
            _fail(field, ratio, 'every ratio in [0, 1)')
    return dict(zip(layer_names, [float(v) for v in values]))


def check_positive_int(field, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(field, value, 'an integer >= %d' % minimum)


def validate_config(config, layer_names):
    """Check every rule of the training config; return {layer: ratio} of the normalised pruned_ratio."""
    train, data, model, test = config.TRAIN, config.DATA, config.MODEL, config.TEST
    check_lr_schedule(train.lr_value_every_step, train.lr_decay_every_step)
    check_positive_int('TRAIN.batch_size', train.batch_size)
    check_positive_int('TRAIN.epoch', train.epoch)
    check_positive_int('TRAIN.num_gpu', train.num_gpu)
    check_positive_int('TRAIN.process_num', train.process_num, minimum=0)
    check_positive_int('TRAIN.prefetch_size', train.prefetch_size)
    check_positive_int('TRAIN.log_interval', train.log_interval)
    if not isinstance(train.worker_timeout_secs, numbers.Real) or not train.worker_timeout_secs > 0:
        _fail('TRAIN.worker_timeout_secs', train.worker_timeout_secs, 'a number of seconds > 0')
    if train.batch_size % train.num_gpu:
        _fail('TRAIN.batch_size', train.batch_size, 'a multiple of TRAIN.num_gpu (%d)' % train.num_gpu)
    if not isinstance(train.pruned_alpha, numbers.Real) or train.pruned_alpha < 0:
        _fail('TRAIN.pruned_alpha', train.pruned_alpha, 'a number >= 0')
    if train.optimizer not in ('momentum', 'adam'):
        _fail('TRAIN.optimizer', train.optimizer, "'momentum' or 'adam'")
    if train.pruned_loss not in ('activation', 'group_lasso'):
        _fail('TRAIN.pruned_loss', train.pruned_loss, "'activation' or 'group_lasso'")
    check_input_size((data.hin, data.win), sides=('config.DATA.hin', 'config.DATA.win'))
    for field in ('PIXEL_MEAN', 'PIXEL_STD'):
        value = data[field]
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            _fail('DATA.' + field, value, 'three numbers (R, G, B)')
    if any(v <= 0 for v in data.PIXEL_STD):
        _fail('DATA.PIXEL_STD', data.PIXEL_STD, 'three numbers > 0')
    if not isinstance(model.width_mult, numbers.Real) or not model.width_mult > 0:
        _fail('MODEL.width_mult', model.width_mult, 'a number > 0')
    check_positive_int('MODEL.max_to_keep', model.max_to_keep)
    if not 0 <= test.score_thres <= 1:
        _fail('TEST.score_thres', test.score_thres, 'a score in [0, 1]')
    if not 0 < test.iou_thres <= 1:
        _fail('TEST.iou_thres', test.iou_thres, 'an IoU in (0, 1]')
    check_positive_int('TEST.max_detect', test.max_detect)
    return check_pruned_ratio(train.pruned_ratio, layer_names)


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
