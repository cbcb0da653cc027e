"""The architecture of one DSFD: channel counts of every layer and the structural switches.

An Architecture is plain data (JSON-serialisable) so that a slimmed model is rebuilt from it alone:
the dense model comes from the config (`from_model_config`), a pruned one from `with_channels(kept)`.
"""
import collections
import json

# The prunable layers in registry order (the order of config.TRAIN.pruned_ratio) with their dense widths.
BACKBONE_LAYERS = collections.OrderedDict([
    ('vgg_16/conv1/conv1_1', 64), ('vgg_16/conv1/conv1_2', 64),
    ('vgg_16/conv2/conv2_1', 128), ('vgg_16/conv2/conv2_2', 128),
    ('vgg_16/conv3/conv3_1', 256), ('vgg_16/conv3/conv3_2', 256), ('vgg_16/conv3/conv3_3', 256),
    ('vgg_16/conv4/conv4_1', 512), ('vgg_16/conv4/conv4_2', 512), ('vgg_16/conv4/conv4_3', 512),
    ('vgg_16/conv5/conv5_1', 512), ('vgg_16/conv5/conv5_2', 512), ('vgg_16/conv5/conv5_3', 512),
    ('fc6', 1024), ('fc7', 1024),
])
EXTRA_LAYERS = collections.OrderedDict([
    ('extra/extra_conv1', 256), ('extra/extra_conv2', 512),
    ('extra/extra_conv3', 128), ('extra/extra_conv4', 256),
])
PRUNABLE_LAYERS = list(BACKBONE_LAYERS) + list(EXTRA_LAYERS)

# Prunable layers whose outputs are detection sources (strides 4, 8, 16, 32, 64, 128).
SOURCE_LAYERS = ['vgg_16/conv3/conv3_3', 'vgg_16/conv4/conv4_3', 'vgg_16/conv5/conv5_3',
                 'fc7', 'extra/extra_conv2', 'extra/extra_conv4']
L2_NORM_LAYERS = SOURCE_LAYERS[:3]


def scaled(channels, width_mult):
    """A channel count scaled by width_mult, never below 1."""
    return max(1, int(round(channels * width_mult)))


class Architecture(object):
    """Channel counts (prunable layers, FPN, FEM) plus the switches of config.MODEL."""

    FIELDS = ('channels', 'fpn_dims', 'fem_dims', 'fpn', 'dual_mode', 'maxout', 'l2_norm')

    def __init__(self, channels, fpn_dims, fem_dims, fpn=True, dual_mode=True, maxout=True,
                 l2_norm=(10., 8., 5.)):
        self.channels = collections.OrderedDict((name, int(channels[name])) for name in PRUNABLE_LAYERS)
        self.fpn_dims = int(fpn_dims)
        self.fem_dims = int(fem_dims)
        self.fpn = bool(fpn)
        self.dual_mode = bool(dual_mode)
        self.maxout = bool(maxout)
        self.l2_norm = [float(s) for s in l2_norm]

    @classmethod
    def from_model_config(cls, model_config):
        """The dense architecture of config.MODEL (width_mult applied to every layer)."""
        width = model_config.width_mult
        dense = list(BACKBONE_LAYERS.items()) + list(EXTRA_LAYERS.items())
        channels = {name: scaled(c, width) for name, c in dense}
        return cls(channels, scaled(model_config.fpn_dims, width), scaled(model_config.fem_dims, width),
                   fpn=model_config.fpn, dual_mode=model_config.dual_mode, maxout=model_config.maxout,
                   l2_norm=model_config.l2_norm)

    @property
    def shots(self):
        """Shots trained: ['first', 'second'] for DSFD (PAL), one shot otherwise; the last one is inferred."""
        if not self.fpn:
            return ['first']
        return ['first', 'second'] if self.dual_mode else ['second']

    def with_channels(self, kept):
        """A copy with the channel counts of ``kept`` ({layer: count}) replacing the dense ones."""
        channels = dict(self.channels)
        channels.update(kept)
        fields = self.to_dict()
        fields['channels'] = channels
        return Architecture(**fields)

    def is_slimmer_than(self, other):
        """True when some prunable layer has fewer channels than in ``other`` (a slimmed model of it).

        Training writes the architecture beside every checkpoint, so a present ``.arch.json`` alone does not
        make a checkpoint slim; its channel counts do.
        """
        return any(self.channels[name] < other.channels[name] for name in PRUNABLE_LAYERS)

    def to_dict(self):
        return {name: getattr(self, name) for name in self.FIELDS}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, fields):
        return cls(**fields)

    def __eq__(self, other):
        return isinstance(other, Architecture) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return 'Architecture(%s)' % self.to_dict()
