"""The architecture of one DSFD: channel counts of every layer, the structural switches and the input normalisation.

An Architecture is plain data (JSON-serialisable, written beside checkpoints) so that a slimmed or converted model
is rebuilt from it alone: the dense model comes from the config (`from_model_config`), a pruned one from
`with_channels(kept)`. Its pixel_mean / pixel_std, when set, travel with the checkpoint and win over the config's.
"""
import collections
import json
import numbers

from lib.common.checks import did_you_mean, finite_numbers, int_at_least, int_or_ints, kind, optional
from lib.common.errors import UserError

# The prunable layers in registry order (the order of config.TRAIN.pruned_ratio) with their dense widths.
BACKBONE_LAYERS = collections.OrderedDict([
    ('vgg_16/conv1/conv1_1', 64), ('vgg_16/conv1/conv1_2', 64),
    ('vgg_16/conv2/conv2_1', 128), ('vgg_16/conv2/conv2_2', 128),
    ('vgg_16/conv3/conv3_1', 256), ('vgg_16/conv3/conv3_2', 256), ('vgg_16/conv3/conv3_3', 256),
    ('vgg_16/conv4/conv4_1', 512), ('vgg_16/conv4/conv4_2', 512), ('vgg_16/conv4/conv4_3', 512),
    ('vgg_16/conv5/conv5_1', 512), ('vgg_16/conv5/conv5_2', 512), ('vgg_16/conv5/conv5_3', 512),
    ('fc6', 1024), ('fc7', 1024),  # top-level scopes, as the original names them
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
# The original's FPN widths of levels 0, 1, 2 (its 6-entry fpn_dims list; entries 3..5 are unused).
DEFAULT_FPN_DIMS = (256, 512, 512)

# Pruning groups beyond the backbone + extras (a group: one set of channels removed together). FPN level i is the
# product lateral/res{i} * up(merge/res{i}): group 'fpn/res{i}' holds both convs. Every FEM conv is its own group
# 'fems{level}/{branch}'. Which convs read which group is read off the built graph (lib.pruning.registry); these
# names are the ones the model code builds with.
FPN_CONVS = ('lateral', 'merge')
FPN_GROUPS = ['fpn/res%d' % level for level in range(3)]
FEM_BRANCHES = ('eyes_1', 'eyes_2_1', 'eyes_2', 'eyes_3_1', 'eyes_3')
FEM_LEVELS = 6
FEM_GROUPS = ['fems%d/%s' % (level, branch) for level in range(FEM_LEVELS) for branch in FEM_BRANCHES]
ALL_GROUPS = PRUNABLE_LAYERS + FPN_GROUPS + FEM_GROUPS


def prunable_groups(fpn):
    """The pruning groups of a model: the 19 backbone + extras layers, plus the FPN and FEM groups when ``fpn``."""
    return list(ALL_GROUPS if fpn else PRUNABLE_LAYERS)


def fpn_conv(kind, level):
    """'lateral/res1': the scope of one conv of FPN group 'fpn/res{level}'."""
    return '%s/res%d' % (kind, level)


def group_of(name):
    """The group a layer name belongs to ('lateral/res1' -> 'fpn/res1'); a group name maps to itself."""
    for level, group in enumerate(FPN_GROUPS):
        if name in [fpn_conv(kind, level) for kind in FPN_CONVS]:
            return group
    return name


def group_convs(group):
    """Scopes of the convs whose output channels make ``group`` (both FPN convs of a level; else the group)."""
    if group in FPN_GROUPS:
        return [fpn_conv(kind, FPN_GROUPS.index(group)) for kind in FPN_CONVS]
    return [group]


def fem_widths(fem_dims):
    """{branch: dense width} of one FEM of ``fem_dims`` outputs: eyes_1, eyes_2_1 half; the other three a quarter."""
    half, quarter = max(1, fem_dims // 2), max(1, fem_dims // 4)
    return {'eyes_1': half, 'eyes_2_1': half, 'eyes_2': quarter, 'eyes_3_1': quarter, 'eyes_3': quarter}


def default_channels(fpn_dims, fem_dims):
    """{FPN / FEM group: dense width} from the structure's fpn_dims (levels 0..2) and fem_dims."""
    channels = dict(zip(FPN_GROUPS, fpn_dims))
    widths = fem_widths(fem_dims)
    channels.update((group, widths[group.split('/')[1]]) for group in FEM_GROUPS)
    return channels


def scaled(channels, width_mult):
    """A channel count scaled by width_mult, never below 1."""
    return max(1, int(round(channels * width_mult)))


class Architecture(object):
    """Channel counts (prunable layers, FPN levels 0..2, FEM) plus the switches of config.MODEL.

    ``channels`` holds one count per pruning group (ALL_GROUPS); ``fpn_dims`` / ``fem_dims`` are the dense
    structure, and the FPN / FEM groups missing from ``channels`` (architectures written before those groups were
    prunable) take their dense widths from them.

    Models: ``fpn`` and ``dual_mode``: DSFD (first shot on the sources, second shot on FPN + FEM, one anchor per
    pixel each); ``fpn`` alone: one shot on FPN + FEM; no ``fpn``: a plain SSD on the sources. A single-shot model
    predicts two anchors per pixel, as the original's ANCHOR_RATIOS (1., 4.) make it.
    """

    FIELDS = ('channels', 'fpn_dims', 'fem_dims', 'fpn', 'dual_mode', 'maxout', 'l2_norm', 'pixel_mean', 'pixel_std')

    def __init__(self, channels, fpn_dims, fem_dims, fpn=True, dual_mode=True, maxout=True,
                 l2_norm=(10., 8., 5.), pixel_mean=None, pixel_std=None):
        self.fpn_dims = fpn_levels(fpn_dims)
        self.fem_dims = int(fem_dims)
        defaults = default_channels(self.fpn_dims, self.fem_dims)
        self.channels = collections.OrderedDict((name, int(channels[name] if name in channels else defaults[name]))
                                                for name in ALL_GROUPS)
        self.fpn = bool(fpn)
        self.dual_mode = bool(dual_mode)
        self.maxout = bool(maxout)
        self.l2_norm = [float(s) for s in l2_norm]
        self.pixel_mean = None if pixel_mean is None else [float(v) for v in pixel_mean]
        self.pixel_std = None if pixel_std is None else [float(v) for v in pixel_std]

    @classmethod
    def from_model_config(cls, model_config):
        """The dense architecture of config.MODEL (width_mult applied to every layer); no normalisation of its own."""
        width = model_config.width_mult
        dense = list(BACKBONE_LAYERS.items()) + list(EXTRA_LAYERS.items())
        channels = {name: scaled(c, width) for name, c in dense}
        return cls(channels, [scaled(d, width) for d in fpn_levels(model_config.fpn_dims)],
                   scaled(model_config.fem_dims, width), fpn=model_config.fpn, dual_mode=model_config.dual_mode,
                   maxout=model_config.maxout, l2_norm=model_config.l2_norm)

    @property
    def shots(self):
        """Shots trained: ['first', 'second'] for DSFD (PAL), one shot otherwise; the last one is inferred."""
        if not self.fpn:
            return ['first']
        return ['first', 'second'] if self.dual_mode else ['second']

    @property
    def groups(self):
        """The pruning groups this model has (prunable_groups of its ``fpn`` switch)."""
        return prunable_groups(self.fpn)

    @property
    def anchors_per_pixel(self):
        """1 for the two shots of DSFD; 2 (full and half size) for a single-shot model."""
        return 1 if len(self.shots) > 1 else 2

    def normalisation(self, pixel_mean, pixel_std):
        """(mean, std) the graph applies: this architecture's own when set, else the given (config's) ones."""
        return (self.pixel_mean if self.pixel_mean is not None else list(pixel_mean),
                self.pixel_std if self.pixel_std is not None else list(pixel_std))

    def with_normalisation(self, pixel_mean, pixel_std):
        """A copy that carries ``pixel_mean`` / ``pixel_std`` (written beside the checkpoints made from it)."""
        fields = self.to_dict()
        fields.update(pixel_mean=pixel_mean, pixel_std=pixel_std)
        return Architecture(**fields)

    def with_channels(self, kept):
        """A copy with the channel counts of ``kept`` ({group: count}) replacing the dense ones."""
        channels = dict(self.channels)
        channels.update(kept)
        fields = self.to_dict()
        fields['channels'] = channels
        return Architecture(**fields)

    def is_slimmer_than(self, other):
        """True when some pruning group has fewer channels than in ``other`` (a slimmed model of it).

        Training writes the architecture beside every checkpoint, so a present ``.arch.json`` alone does not
        make a checkpoint slim; its channel counts do.
        """
        return any(self.channels[name] < other.channels[name] for name in self.groups)

    def same_network(self, other):
        """True when both describe one network: the same structure and channel counts (the normalisation
        aside); False for a slimmed, widened or differently built model of ``other``."""
        return self.structure() == other.structure() and \
            all(self.channels[name] == other.channels[name] for name in self.groups)

    def differences(self, other):
        """What ``self`` changes of ``other``, one 'field: from -> to' text each (the channel counts summed up as
        one, naming the width_mult they amount to when every layer is scaled alike); [] when the same."""
        found = ['%s %s -> %s' % (name, "(the config's)" if value is None else value, getattr(self, name))
                 for name, value in sorted(other.to_dict().items())
                 if name != 'channels' and getattr(self, name) != value and getattr(self, name) is not None]
        changed = [group for group in ALL_GROUPS if self.channels[group] != other.channels[group]]
        if changed:
            layers = dict(list(BACKBONE_LAYERS.items()) + list(EXTRA_LAYERS.items()))
            base, first = PRUNABLE_LAYERS[0], changed[0]
            width = self.channels[base] / float(layers[base])
            uniform = all(self.channels[name] == scaled(dense, width) for name, dense in layers.items())
            found.insert(0, '%schannels of %d of %d groups (e.g. %s %d -> %d)' % (
                'width_mult %g -> %g: ' % (other.channels[base] / float(layers[base]), width) if uniform else '',
                len(changed), len(ALL_GROUPS), first, other.channels[first], self.channels[first]))
        return found

    def to_dict(self):
        return {name: getattr(self, name) for name in self.FIELDS}

    def structure(self):
        """Everything but the groups' channel counts and the normalisation: what pruning never changes. Without
        ``fpn`` the network has no FPN, FEM or second shot: fpn_dims, fem_dims and dual_mode are left out (an
        original single-shot checkpoint says dual_mode False, its config True: one network)."""
        unused = () if self.fpn else ('fpn_dims', 'fem_dims', 'dual_mode')
        return {name: value for name, value in self.to_dict().items()
                if name not in ('channels', 'pixel_mean', 'pixel_std') + unused}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, fields):
        return cls(**fields)

    def __eq__(self, other):
        return isinstance(other, Architecture) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return 'Architecture(%s)' % self.to_dict()


def fpn_levels(fpn_dims):
    """The FPN widths of levels 0, 1, 2 from an int (every level) or the original's list (its first three)."""
    if isinstance(fpn_dims, numbers.Integral) and fpn_dims > 0:
        return [int(fpn_dims)] * 3
    if (isinstance(fpn_dims, (list, tuple)) and len(fpn_dims) >= 3
            and all(isinstance(d, numbers.Integral) and d > 0 for d in fpn_dims[:3])):
        return [int(d) for d in fpn_dims[:3]]
    raise UserError('MODEL.fpn_dims = %r: expected an int > 0 or a list of at least 3 ints > 0 (the original\'s '
                    '[256, 512, 512, 1024, 512, 256]; only the first three are used)' % (fpn_dims,))


def channel_counts(value):
    """An .arch.json's channels: {pruning group: count >= 1}."""
    if not isinstance(value, dict):
        return 'an object {pruning group: channel count >= 1}'
    for group, count in value.items():
        if group not in ALL_GROUPS:
            return 'pruning groups among %s; unknown: %s%s' % (', '.join(ALL_GROUPS[:3]) + ', ...', group,
                                                            did_you_mean(str(group), ALL_GROUPS))
        if int_at_least(1)(count) is not None:
            return 'channel counts that are integers >= 1; %s is %r' % (group, count)
    return None


# The fields of an architecture file beside a checkpoint (<ckpt>.arch.json, lib.checkpoint.load_arch) under the
# rules of the config fields they come from (lib.config.SCHEMA: MODEL.*, DATA.PIXEL_MEAN / PIXEL_STD).
ARCH_SCHEMA = {
    'channels': channel_counts, 'fpn_dims': int_or_ints, 'fem_dims': int_at_least(1), 'fpn': kind(bool),
    'dual_mode': kind(bool), 'maxout': kind(bool), 'l2_norm': finite_numbers(3, positive=True),
    'pixel_mean': optional(finite_numbers(3)), 'pixel_std': optional(finite_numbers(3, positive=True)),
}
ARCH_REQUIRED = ('channels', 'fpn_dims', 'fem_dims')


def check_arch_fields(fields, path):
    """UserError naming ``path`` and the field unless ``fields`` (a parsed .arch.json) holds only known fields, the
    required ones, each valid under the rules of the config field it comes from."""
    if not isinstance(fields, dict):
        raise UserError('%s: holds a JSON %s; expected an object with fields %s'
                        % (path, type(fields).__name__, ', '.join(sorted(ARCH_SCHEMA))))
    for field in fields:
        if field not in ARCH_SCHEMA:
            raise UserError('%s: unknown field %s%s' % (path, field, did_you_mean(str(field), list(ARCH_SCHEMA))))
    for field in ARCH_REQUIRED:
        if field not in fields:
            raise UserError('%s: field %s is missing; the file is written by training beside each checkpoint'
                            % (path, field))
    for field, check in sorted(ARCH_SCHEMA.items()):
        expected = check(fields[field]) if field in fields else None
        if expected is not None:
            raise UserError('%s: %s = %r: expected %s' % (path, field, fields[field], expected))
