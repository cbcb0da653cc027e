"""The original's config files (pruned_train_config.py, train_config.py, mac_config.py), read without running them.

They import the original's ``lib.core.anchor`` and set ``CUDA_VISIBLE_DEVICES`` at import, so they are parsed
(``ast``): each top-level ``config.SECTION.FIELD = <literal>`` is read, the last one of a field winning.
Every field of theirs is either carried into this project's config (same name, or renamed: ``ANCHOR_SIZES`` ->
``ANCHOR.sizes``), accepted because it has the value this project implements (``TRAIN.norm = 'None'``) or is
derived here (``TRAIN.iter_num_per_epoch``), or rejected with one line naming the file, line, field and what
replaces it. This is the one place unknown config keys are tolerated; our own configs stay strict.
"""
import ast
import logging
import os

from lib.common.errors import UserError

log = logging.getLogger(__name__)

# A field of theirs that our config has under the same name (TRAIN.batch_size, DATA.PIXEL_MEAN, MODEL.fpn, ...)
# is carried as is; so is a field of ours written into their file (MODEL.width_mult).
TRAINED_MODEL = ('MODEL', 'trained_model')  # their mac_config.py's checkpoint: mac.py reads it (trained_model)
RENAMED = {
    ('ANCHOR', 'ANCHOR_SIZES'): ('ANCHOR', 'sizes'),
    ('ANCHOR', 'ANCHOR_STRIDES'): ('ANCHOR', 'strides'),
    ('ANCHOR', 'POSITIVE_ANCHOR_THRESH'): ('ANCHOR', 'positive_iou'),
    ('MODEL', 'max_negatives_per_positive'): ('ANCHOR', 'neg_pos_ratio'),
}
# Fields computed here instead (accepted whatever their value), with what computes them.
DERIVED = {
    ('TRAIN', 'train_set_size'): 'an epoch is one pass over DATA.train_txt_path',
    ('TRAIN', 'val_set_size'): 'validation runs over all of DATA.val_txt_path',
    ('TRAIN', 'iter_num_per_epoch'): 'steps per epoch = images in DATA.train_txt_path / TRAIN.batch_size',
    ('TRAIN', 'val_iter'): 'validation runs over all of DATA.val_txt_path',
    ('DATA', 'num_class'): 'face + background',
    ('DATA', 'max_size'): 'the input size is DATA.hin x DATA.win',
    ('DATA', 'scales'): 'used only with DATA.mutiscale',
    ('ANCHOR', 'ANCHOR_STRIDE'): 'ANCHOR.strides',
    ('ANCHOR', 'achor'): 'the anchor generator is built from ANCHOR.*',
    ('TEST', 'parallel_iterations'): 'decoding is batched',
}
# Fields accepted only at the value this project implements: {field: (values, what replaces it)}.
FIXED = {
    ('TRAIN', 'vis'): ((False,), 'tools/vis.py draws detections'),
    ('TRAIN', 'norm'): (('None',), 'the VGG16 DSFD here has no normalisation layers'),
    ('TRAIN', 'lock_basenet_bn'): ((False,), 'the VGG16 DSFD here has no batch norm'),
    ('TRAIN', 'frozen_stages'): ((-1,), 'every layer trains (a pruning ratio of 0 leaves a layer alone)'),
    ('DATA', 'num_category'): ((1,), 'faces only'),
    ('DATA', 'cover_small_face'): ((5,), 'augmentation drops boxes that fall under 1 px after cropping'),
    ('DATA', 'mutiscale'): ((False,), 'training runs at DATA.hin x DATA.win'),
    ('ANCHOR', 'rect'): ((True, False), 'ANCHOR.aspect_ratio'),
    ('ANCHOR', 'rect_longer'): ((True,), 'ANCHOR.aspect_ratio (height / width)'),
    ('ANCHOR', 'ANCHOR_RATIOS'): (((1., 4.), [1., 4.]), 'MODEL.fpn (False: two anchors per pixel, as theirs)'),
    ('ANCHOR', 'NEGATIVE_ANCHOR_THRESH'): ((), 'ANCHOR.positive_iou (one threshold; set both equal)'),
    ('ANCHOR', 'AVG_MATCHES'): ((20,), 'the matcher here: ANCHOR.positive_iou plus each face\'s best anchor'),
    ('ANCHOR', 'super_match'): ((True,), 'the matcher here: ANCHOR.positive_iou plus each face\'s best anchor'),
    ('MODEL', 'net_structure'): (('vgg_16',), 'the VGG16 DSFD is the one network here'),
}
DERIVED_EXPRESSION = object()  # an assignment that is not a literal (computed from other fields)


def _parse(path):
    """The syntax tree of a config file; a missing file or a syntax error is one line naming the file (and line)."""
    if not os.path.isfile(path):
        raise UserError('config file %s does not exist' % path)
    with open(path, 'rb') as f:
        source = f.read()
    try:
        return ast.parse(source, path)
    except (SyntaxError, ValueError) as err:
        raise UserError('config file %s:%s: not valid Python (%s); fix the file'
                        % (path, getattr(err, 'lineno', '?'), getattr(err, 'msg', err)))


def is_original_config(path):
    """True when the config file is in the original's form: it imports the original's ``lib.core`` or sets
    ``os.environ`` (CUDA_VISIBLE_DEVICES) at import. Our configs do neither."""
    tree = _parse(path)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('lib.core'):
            return True
        if isinstance(node, ast.Assign) and any(_dotted(target.value) == 'os.environ'
                                                for target in node.targets if isinstance(target, ast.Subscript)):
            return True
    return False


def _dotted(node):
    """'a.b.c' of an attribute chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return '.'.join([node.id] + parts[::-1])


def read_assignments(path):
    """{(SECTION, FIELD): (value or DERIVED_EXPRESSION, line)} of the file's ``config.SECTION.FIELD = ...``."""
    tree = _parse(path)
    fields = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            name = _dotted(target) or ''
            parts = name.split('.')
            if len(parts) != 3 or parts[0] != 'config':
                continue
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                value = DERIVED_EXPRESSION
            fields[(parts[1], parts[2])] = (value, node.lineno)
    return fields


def _fpn_dims(value, where):
    """Their fpn_dims: an int, or a list of which only the first three entries are used."""
    if isinstance(value, (list, tuple)) and len(value) >= 3:
        return list(value[:3])
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise UserError('%s: MODEL.fpn_dims = %r: expected an int or a list of at least three channel counts (the '
                    'original lists six; the first three are used)' % (where, value))


def _aspect_ratio(fields):
    rect = fields.get(('ANCHOR', 'rect'), (True, 0))[0]
    return 1.5 if rect else 1.


def trained_model(path):
    """MODEL.trained_model of an original-form mac_config.py, or None."""
    value = read_assignments(path).get(TRAINED_MODEL, (None, 0))[0]
    return value if isinstance(value, str) else None


def locate(path, message):
    """``message`` (a check's one line, 'config.SECTION.field = ...') prefixed with where the original-form file
    at ``path`` sets that field (their name: ANCHOR.sizes is their ANCHOR_SIZES), else with the file alone."""
    ours = message.split(' ', 1)[0].split('.')[1:3]
    theirs = dict((value, key) for key, value in RENAMED.items()).get(tuple(ours), tuple(ours))
    line = read_assignments(path).get(theirs, (None, None))[1]
    return '%s: %s' % (path if line is None else '%s:%d' % (path, line), message)


def apply_original_config(path, config):
    """Write the fields of the original-form config at ``path`` into ``config`` (ours, e.g. the default training
    config) and return it; one UserError names the first field that cannot be honoured."""
    fields = read_assignments(path)
    positive = fields.get(('ANCHOR', 'POSITIVE_ANCHOR_THRESH'), (None, 0))[0]
    for (section, field), (value, line) in sorted(fields.items(), key=lambda item: item[1][1]):
        where = '%s:%d: config.%s.%s' % (path, line, section, field)
        key = (section, field)
        if key == TRAINED_MODEL:
            log.info('%s: the checkpoint mac.py counts (read by mac.py, not by training)', where)
        elif key in DERIVED:
            log.info('%s: not needed here (%s)', where, DERIVED[key])
        elif value is DERIVED_EXPRESSION:
            raise UserError('%s is computed from other fields; write a literal value' % where)
        elif key in FIXED:
            allowed, instead = FIXED[key]
            if key == ('ANCHOR', 'NEGATIVE_ANCHOR_THRESH'):
                allowed = (positive,)
            if value not in allowed:
                raise UserError('%s = %r is not supported here (only %s); what replaces it: %s'
                                % (where, value, ' or '.join(repr(a) for a in allowed), instead))
        elif key == ('MODEL', 'fpn_dims'):
            config.MODEL.fpn_dims = _fpn_dims(value, where)
        elif key in RENAMED:
            ours = RENAMED[key]
            config[ours[0]][ours[1]] = list(value) if isinstance(value, tuple) else value
        elif field in config.get(section, {}):
            config[section][field] = list(value) if isinstance(value, tuple) else value
        else:
            raise UserError('%s is not a field of the original config nor of this project; see the README '
                            'section "From the original"' % where)
    config.ANCHOR.aspect_ratio = _aspect_ratio(fields)
    if ('ANCHOR', 'rect_longer') in fields or ('ANCHOR', 'rect') in fields:
        log.info('%s: ANCHOR.rect / rect_longer -> ANCHOR.aspect_ratio = %g', path, config.ANCHOR.aspect_ratio)
    return config
