"""Checkpoints in the original's layout, written from its description alone (not from this project's model code):
TF-slim names, random weights at a reduced width, plus what its trainer adds (Momentum slots, global_step)."""
import numpy as np

from lib import checkpoint

VGG = [('vgg_16/conv%d/conv%d_%d' % (b, b, i), c) for b, i, c in [
    (1, 1, 64), (1, 2, 64), (2, 1, 128), (2, 2, 128), (3, 1, 256), (3, 2, 256), (3, 3, 256), (4, 1, 512),
    (4, 2, 512), (4, 3, 512), (5, 1, 512), (5, 2, 512), (5, 3, 512)]]


def original_shapes(width_mult=1., network='dsfd'):
    """{variable: shape} of the original's VGG16 ``network`` ('dsfd', or 'ssd' for MODEL.fpn=False) with every
    channel count c scaled to max(1, round(c * width_mult))."""
    w = lambda c: max(1, int(round(c * width_mult)))  # noqa: E731
    convs, c_in = {}, 3
    for name, channels in VGG:
        convs[name] = (3, c_in, w(channels))
        c_in = w(channels)
    convs.update({'fc6': (3, w(512), w(1024)), 'fc7': (1, w(1024), w(1024)),
                  'extra/extra_conv1': (1, w(1024), w(256)), 'extra/extra_conv2': (3, w(256), w(512)),
                  'extra/extra_conv3': (1, w(512), w(128)), 'extra/extra_conv4': (3, w(128), w(256))})
    sources = [w(c) for c in (256, 512, 512, 1024, 512, 256)]
    heads = [('ssdout', sources, 2)]
    if network == 'dsfd':
        fpn, fem = [w(256), w(512), w(512)], w(512)
        half, quarter = max(1, fem // 2), max(1, fem // 4)
        for level in range(3):
            convs['lateral/res%d' % level] = (1, sources[level], fpn[level])
            convs['merge/res%d' % level] = (1, sources[3] if level == 2 else fpn[level + 1], fpn[level])
        for level, c_in in enumerate(fpn + sources[3:]):
            convs.update({'fems%d/eyes_1' % level: (3, c_in, half), 'fems%d/eyes_2_1' % level: (3, c_in, half),
                          'fems%d/eyes_2' % level: (3, half, quarter), 'fems%d/eyes_3_1' % level: (3, half, quarter),
                          'fems%d/eyes_3' % level: (3, quarter, quarter)})
        heads = [('ssdout', sources, 1), ('dual/ssdout', [half + 2 * quarter] * 6, 1)]
    for scope, widths, anchors in heads:
        for level, c_in in enumerate(widths):
            convs['%s/out_reg%d' % (scope, level)] = (3, c_in, 4 * anchors)
            if level:
                convs['%s/out_cla%d' % (scope, level)] = (3, c_in, 2 * anchors)
        convs[scope + '/maxout0/negative/out_cla0'] = (3, widths[0], 6)
        convs[scope + '/maxout0/positive/out_cla1'] = (3, widths[0], anchors)
    shapes = {}
    for name, (kernel, c_in, c_out) in convs.items():
        shapes[name + '/weights'] = [kernel, kernel, c_in, c_out]
        shapes[name + '/biases'] = [c_out]
    return shapes


def write_original_checkpoint(prefix, width_mult=0.125, network='dsfd', seed=0, drop=(), head_gain=0.3):
    """Random values under the original's names (He-scaled weights, small biases; head weights x ``head_gain``
    so that scores spread without saturating), Momentum slots and global_step, as its trainer saves them;
    ``drop`` leaves variables out.
    Returns {model variable: array}."""
    rng = np.random.RandomState(seed)
    values = {}
    for name, shape in sorted(original_shapes(width_mult, network).items()):
        if name.endswith('/weights'):
            gain = head_gain if '/out_' in name else 1.
            values[name] = (rng.normal(0, gain * np.sqrt(2. / np.prod(shape[:3])), shape)).astype(np.float32)
        else:
            values[name] = rng.normal(0, 0.05, shape).astype(np.float32)
    model = {name: value for name, value in values.items() if name not in drop}
    stored = dict(model)
    stored.update({name + '/Momentum': np.full_like(value, 0.5) for name, value in model.items()})
    stored['global_step'] = np.array(1000, np.int32)
    checkpoint.write_checkpoint(stored, prefix)
    return model


# ------------------------------------------------------------------------------ the original's config files
# The field values of the four config files of the original projects, in their order (facts read from the public
# files; their text is not copied): the parent's train_config.py (610265158/DSFD-tensorflow) and the seed's
# train_config.py, pruned_train_config.py, mac_config.py (airacid/pruned-face-detector). A field written twice
# there holds its last value (TRAIN.norm: 'BN', then 'None'). COMPUTED: a value computed from other fields there;
# ANCHOR_OBJECT: their anchor generator object (`Anchor()` from their lib.core.anchor).
COMPUTED = 'computed'
ANCHOR_OBJECT = 'anchor object'
_HEAD = [('TRAIN.process_num', 3), ('TRAIN.prefetch_size', 100), ('TRAIN.num_gpu', 1)]
_TAIL = [
    ('TRAIN.weight_decay_factor', 5.e-4), ('TRAIN.train_set_size', 13000), ('TRAIN.val_set_size', 3000),
    ('TRAIN.iter_num_per_epoch', COMPUTED), ('TRAIN.val_iter', COMPUTED), ('TRAIN.vis', False),
    ('TRAIN.norm', 'None'), ('TRAIN.lock_basenet_bn', False), ('TRAIN.frozen_stages', -1),
    ('TEST.parallel_iterations', 8), ('TEST.score_thres', 0.05), ('TEST.iou_thres', 0.3), ('TEST.max_detect', 1500),
    ('DATA.root_path', ''), ('DATA.train_txt_path', 'train.txt'), ('DATA.val_txt_path', 'val.txt'),
    ('DATA.num_category', 1), ('DATA.num_class', COMPUTED), ('DATA.PIXEL_MEAN', [123., 116., 103.]),
    ('DATA.PIXEL_STD', [58., 57., 57.]), ('DATA.hin', 640), ('DATA.win', 640), ('DATA.max_size', COMPUTED),
    ('DATA.cover_small_face', 5), ('DATA.mutiscale', False), ('DATA.scales', (320, 640)),
    ('ANCHOR.rect', True), ('ANCHOR.rect_longer', True), ('ANCHOR.ANCHOR_STRIDE', 16),
    ('ANCHOR.ANCHOR_SIZES', (16, 32, 64, 128, 256, 512)), ('ANCHOR.ANCHOR_STRIDES', (4, 8, 16, 32, 64, 128)),
    ('ANCHOR.ANCHOR_RATIOS', (1., 4.)), ('ANCHOR.POSITIVE_ANCHOR_THRESH', 0.35),
    ('ANCHOR.NEGATIVE_ANCHOR_THRESH', 0.35), ('ANCHOR.AVG_MATCHES', 20), ('ANCHOR.super_match', True),
    ('ANCHOR.achor', ANCHOR_OBJECT), ('MODEL.l2_norm', [10, 8, 5])]
_SEED_LR = [('TRAIN.lr_value_every_step', [0.001, 0.001, 0.0005]), ('TRAIN.lr_decay_every_step', [1000, 10000])]
_SEED_MODEL = [('MODEL.net_structure', 'vgg_16'), ('MODEL.fpn_dims', [256, 512, 512, 1024, 512, 256]),
               ('MODEL.fem_dims', 512), ('MODEL.fpn', False), ('MODEL.dual_mode', True), ('MODEL.maxout', True),
               ('MODEL.max_negatives_per_positive', 3.0)]
_NO_PRUNING = [('TRAIN.pruned_alpha', 1.), ('TRAIN.pruned_ratio', [0.] * 19)]
ORIGINAL_CONFIGS = {
    'parent/train_config.py': _HEAD + [
        ('TRAIN.batch_size', 6), ('TRAIN.log_interval', 10), ('TRAIN.epoch', 2000),
        ('TRAIN.lr_value_every_step', [0.00001, 0.0001, 0.0005, 0.0001, 0.00001, 0.000001]),
        ('TRAIN.lr_decay_every_step', [500, 1000, 60000, 80000, 100000])] + _TAIL + [
        ('MODEL.continue_train', False), ('MODEL.model_path', './model/'), ('MODEL.net_structure', 'vgg_16'),
        ('MODEL.pretrained_model', 'vgg_16.ckpt'), ('MODEL.fpn_dims', [256, 512, 512, 1024, 512, 256]),
        ('MODEL.fem_dims', 512), ('MODEL.fpn', True), ('MODEL.dual_mode', True), ('MODEL.maxout', True),
        ('MODEL.max_negatives_per_positive', 3.0)],
    'seed/train_config.py': _HEAD + [('TRAIN.log_interval', 10), ('TRAIN.batch_size', 4), ('TRAIN.epoch', 10)] +
    _SEED_LR + [('MODEL.model_path', './face_detector/')] + _TAIL + [
        ('MODEL.continue_train', False), ('MODEL.net_structure', 'vgg_16'),
        ('MODEL.pretrained_model', './pretrained_model.ckpt')] + _SEED_MODEL[1:],
    'seed/pruned_train_config.py': _HEAD + [('TRAIN.log_interval', 10), ('TRAIN.epoch', 10), ('TRAIN.batch_size', 2)] +
    _SEED_LR + [('MODEL.model_path', './face_detector_pruned/'),
                ('MODEL.pretrained_model', './face_detector/optimized/epoch_5_val_loss_3.ckpt')] + _NO_PRUNING +
    _TAIL + [('MODEL.continue_train', True)] + _SEED_MODEL,
    'seed/mac_config.py': _HEAD + [('TRAIN.log_interval', 10), ('TRAIN.batch_size', 2),
                                   ('MODEL.trained_model', './face_detector_pruned/optimized/epoch_5val_loss_3.ckpt'),
                                   ('MODEL.model_path', './face_detector/'),
                                   ('TRAIN.lr_value_every_step', [0.0005, 0.0001, 0.00005, 0.00001]),
                                   ('TRAIN.lr_decay_every_step', [1000, 5000, 10000])] + _NO_PRUNING + _TAIL + [
        ('MODEL.continue_train', True)] + _SEED_MODEL,
}
_EXPRESSIONS = {  # this project's wording of what their files compute
    'TRAIN.iter_num_per_epoch': 'config.TRAIN.train_set_size // config.TRAIN.num_gpu // config.TRAIN.batch_size',
    'TRAIN.val_iter': 'config.TRAIN.val_set_size // config.TRAIN.num_gpu // config.TRAIN.batch_size',
    'DATA.num_class': 'config.DATA.num_category + 1', 'DATA.max_size': '[config.DATA.hin, config.DATA.win]'}


def original_config_values(name, **edits):
    """[(SECTION.field, value)] of ORIGINAL_CONFIGS[name] with ``edits`` ({'SECTION__field': value}) applied in
    place, or appended when the file has no such field."""
    values = list(ORIGINAL_CONFIGS[name])
    for key, value in edits.items():
        key = key.replace('__', '.')
        index = [k for k, _ in values].index(key) if key in dict(values) else len(values)
        values[index:index + 1] = [(key, value)]
    return values


def write_original_config(path, values):
    """A config file in the original's form holding ``values`` ([(SECTION.field, value)], in order): it sets
    CUDA_VISIBLE_DEVICES and imports their anchor module, so it can only be read, not run."""
    lines = ['import os', 'from easydict import EasyDict as edict', '', 'config = edict()',
             'os.environ["CUDA_VISIBLE_DEVICES"] = "0"']
    sections = []
    for key, value in values:
        section = key.split('.')[0]
        if section not in sections:
            sections.append(section)
            lines.append('config.%s = edict()' % section)
        if value is ANCHOR_OBJECT:
            lines += ['from lib.core.anchor.anchor import Anchor', 'config.%s = Anchor()' % key]
        else:
            lines.append('config.%s = %s' % (key, _EXPRESSIONS[key] if value is COMPUTED else repr(value)))
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path
