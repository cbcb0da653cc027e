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
