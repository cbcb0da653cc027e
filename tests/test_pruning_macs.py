"""MAC counting from the built graph: the oracle numbers at width 1, 640x640, and slim graphs counted the same way."""
import pytest

from conftest import zip_same
from lib.common.errors import UserError
from lib.config import check_pruned_ratio
from lib.model.arch import BACKBONE_LAYERS, PRUNABLE_LAYERS, Architecture
from lib.pruning import macs
from pruning_helpers import small_config

SIZE = (640, 640)
# (kernel, output side at 640x640) of the 15 backbone layers, in order.
BACKBONE_SHAPES = [(3, 640)] * 2 + [(3, 320)] * 2 + [(3, 160)] * 3 + [(3, 80)] * 3 + [(3, 40)] * 3 + [(3, 20), (1, 20)]


def backbone_macs(channels):
    """k*k*n_in*n_out*H*W summed over the 15 backbone layers for {layer: channels}."""
    total, c_in = 0, 3
    for (kernel, side), name in zip_same(BACKBONE_SHAPES, BACKBONE_LAYERS):
        total += kernel * kernel * c_in * channels[name] * side * side
        c_in = channels[name]
    return total


@pytest.fixture(scope='module')
def full():
    config = small_config(width_mult=1.)
    arch = Architecture.from_model_config(config.MODEL)
    return config, arch, macs.count_arch(arch, SIZE, config)


def conv_macs(kernel, c_in, c_out, side):
    return kernel * kernel * c_in * c_out * side * side


# The original's network at 640x640 by hand: (kernel, c_in, c_out, output side) of every conv.
EXTRAS = [(1, 1024, 256, 20), (3, 256, 512, 10), (1, 512, 128, 10), (3, 128, 256, 5)]
FPN = [(1, 512, 512, 40), (1, 1024, 512, 20),   # lateral/res2 on of2, merge/res2 on of3 (then 2x up)
       (1, 512, 512, 80), (1, 512, 512, 40),    # lateral/res1 on of1, merge/res1 on p2
       (1, 256, 256, 160), (1, 512, 256, 80)]   # lateral/res0 on of0, merge/res0 on p1
FEM_INPUTS = [(256, 160), (512, 80), (512, 40), (1024, 20), (512, 10), (256, 5)]  # p0, p1, p2, of3, of4, of5
SIDES = [160, 80, 40, 20, 10, 5]


def fem_macs(c_in, side):
    """eyes_1 and eyes_2_1 (c_in -> 256), eyes_2 and eyes_3_1 (256 -> 128), eyes_3 (128 -> 128)."""
    return (2 * conv_macs(3, c_in, 256, side) + 2 * conv_macs(3, 256, 128, side) + conv_macs(3, 128, 128, side))


def second_shot_head_macs():
    """On the 512-channel enhanced maps: out_reg -> 4, out_cla -> 2; level 0 max-out: 6 + 1 instead of 2."""
    return sum(conv_macs(3, 512, 4 + (7 if level == 0 else 2), side) for level, side in enumerate(SIDES))


def test_backbone_oracle(full):
    _, _, counts = full
    backbone = [c for c in counts if c.group == 'backbone']
    assert [c.name for c in backbone] == list(BACKBONE_LAYERS)
    assert sum(c.macs for c in backbone) == 127585484800
    assert sum(c.macs for c in backbone if c.name.startswith('vgg_16/')) == 125278617600
    assert sum(c.params for c in backbone) == 20483904


def test_backbone_oracle_on_a_non_square_input():
    # 64 high, 96 wide: every output is (64 / s) x (96 / s), never (64 / s) squared; VGG16's widths written out.
    config = small_config(width_mult=1.)
    counts = macs.count_arch(Architecture.from_model_config(config.MODEL), (64, 96), config)
    widths = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    assert len(widths) == len(BACKBONE_SHAPES)
    expected, c_in = 0, 3
    for (kernel, side), c_out in zip_same(BACKBONE_SHAPES, widths):
        expected += kernel * kernel * c_in * c_out * (64 * side // 640) * (96 * side // 640)
        c_in = c_out
    assert sum(c.macs for c in counts if c.group == 'backbone') == expected
    first = counts[0]
    assert (first.out_h, first.out_w, first.macs) == (64, 96, 9 * 3 * 64 * 64 * 96)


def test_full_model_oracle_by_group(full):
    """The original's mac.py denominator (backbone + extras), the FPN, the FEM and the heads, by hand."""
    _, _, counts = full
    group = lambda *names: sum(c.macs for c in counts if c.group in names)  # noqa: E731
    assert group('extras') == sum(conv_macs(*shape) for shape in EXTRAS)
    assert group('backbone', 'extras') == 127822233600
    fpn = sum(c.macs for c in counts if c.name.startswith(('lateral/', 'merge/')))
    fem = sum(c.macs for c in counts if c.name.startswith('fems'))
    assert fpn == sum(conv_macs(*shape) for shape in FPN) == 5242880000
    assert fem == sum(fem_macs(*shape) for shape in FEM_INPUTS) == 76385894400
    assert fpn + fem == group('fpn_fem')
    assert group('heads') == second_shot_head_macs()
    assert sum(c.macs for c in counts) == 127822233600 + 5242880000 + 76385894400 + second_shot_head_macs()


def test_inference_graph_counts_second_shot_heads_only(full):
    _, _, counts = full
    heads = [c.name for c in counts if c.group == 'heads']
    assert len(heads) == 13 and all(name.startswith('dual/ssdout/') for name in heads)
    assert {c.group for c in counts} == set(macs.GROUPS)
    assert len(counts) == 81 - 13  # every conv but the first shot's heads


def test_half_channels_removes_the_exact_macs(full):
    config, arch, dense = full
    kept_channels = macs.planned_kept(arch, {name: 0.5 for name in BACKBONE_LAYERS})
    assert kept_channels['vgg_16/conv1/conv1_1'] == 32 and kept_channels['fc7'] == 512
    report = macs.compare(dense, macs.count_arch(arch.with_channels(kept_channels), SIZE, config), SIZE)
    backbone = report['groups']['backbone']
    assert backbone['macs_dense'] == 127585484800
    assert backbone['macs_kept'] == backbone_macs(kept_channels)
    # a quarter of every layer, but half of conv1_1 (its 3 input channels stay): 127585484800 / 4 + 707788800 / 4
    assert backbone['macs_kept'] == 32073318400
    conv4_1 = next(r for r in report['layers'] if r['name'] == 'vgg_16/conv4/conv4_1')
    assert (conv4_1['c_in'], conv4_1['c_out'], conv4_1['c_in_kept'], conv4_1['c_out_kept']) == (256, 512, 128, 256)
    assert conv4_1['macs_kept'] == 9 * 128 * 256 * 80 * 80
    for name in ('merge/res2', 'fems3/eyes_2_1'):  # read fc7
        row = next(r for r in report['layers'] if r['name'] == name)
        assert row['macs_kept'] * 2 == row['macs_dense'] and row['c_in_kept'] == 512
    assert report['total']['macs_dense'] == sum(r['macs_dense'] for r in report['layers'])


def test_uniform_plan_over_every_group_by_hand(full):
    """'all:0.5' halves every group: backbone, extras, FPN levels (both convs), every FEM conv; the heads keep
    their outputs and read the halved FEM concat. Every conv's MACs written out from the shapes at 640x640."""
    config, arch, dense = full
    kept = macs.planned_kept(arch, check_pruned_ratio('all:0.5', PRUNABLE_LAYERS))
    assert kept['fpn/res0'] == 128 and kept['fems0/eyes_2_1'] == 128 and kept['fems5/eyes_3'] == 64
    counts = macs.count_arch(arch.with_channels(kept), SIZE, config)
    # backbone (conv1_1 reads the 3 RGB channels) and extras, (kernel, c_in, c_out, side)
    backbone = [(3, 3, 32, 640), (3, 32, 32, 640), (3, 32, 64, 320), (3, 64, 64, 320),
                (3, 64, 128, 160), (3, 128, 128, 160), (3, 128, 128, 160),
                (3, 128, 256, 80), (3, 256, 256, 80), (3, 256, 256, 80),
                (3, 256, 256, 40), (3, 256, 256, 40), (3, 256, 256, 40), (3, 256, 512, 20), (1, 512, 512, 20)]
    extras = [(1, 512, 128, 20), (3, 128, 256, 10), (1, 256, 64, 10), (3, 64, 128, 5)]
    # FPN: lateral/res2 (of2: 256 -> 256), merge/res2 (fc7: 512 -> 256); lateral/res1 (of1: 256), merge/res1
    # (p2: 256); lateral/res0 (of0: 128 -> 128), merge/res0 (p1: 256 -> 128)
    fpn = [(1, 256, 256, 40), (1, 512, 256, 20), (1, 256, 256, 80), (1, 256, 256, 40),
           (1, 128, 128, 160), (1, 256, 128, 80)]
    # FEM on p0, p1, p2, of3 (fc7), of4 (extra_conv2), of5 (extra_conv4): eyes_1, eyes_2_1 c_in -> 128;
    # eyes_2, eyes_3_1 128 -> 64 (both read eyes_2_1); eyes_3 64 -> 64
    fem = [shape for c_in, side in [(128, 160), (256, 80), (256, 40), (512, 20), (256, 10), (128, 5)]
           for shape in [(3, c_in, 128, side)] * 2 + [(3, 128, 64, side)] * 2 + [(3, 64, 64, side)]]
    # second-shot heads on the concat 128 + 64 + 64 = 256: out_reg 4, out_cla 2 (level 0 max-out 6 + 1)
    heads = [(3, 256, 4 + (7 if level == 0 else 2), side) for level, side in enumerate(SIDES)]
    by_hand = sum(k * k * c_in * c_out * side * side for k, c_in, c_out, side in backbone + extras + fpn + fem + heads)
    assert sum(c.macs for c in counts) == by_hand == 53306355200
    dense_total = sum(c.macs for c in dense)
    # every conv reads and writes half the channels, but conv1_1's input and the heads' outputs stay
    assert by_hand == (dense_total - conv_macs(3, 3, 64, 640) - second_shot_head_macs()) // 4 + \
        conv_macs(3, 3, 32, 640) + second_shot_head_macs() // 2


def test_round_to_rounds_kept_counts_up_to_multiples():
    arch = Architecture.from_model_config(small_config(width_mult=0.125).MODEL)
    ratios = check_pruned_ratio('all:0.3', PRUNABLE_LAYERS)
    plain = macs.planned_kept(arch, ratios)
    for round_to in (4, 8, 16):
        rounded = macs.planned_kept(arch, ratios, round_to)
        for group, count in rounded.items():
            dense = arch.channels[group]
            assert plain[group] <= count <= dense
            assert count % round_to == 0 or count == dense
            assert count - plain[group] < round_to
    rounded = macs.planned_kept(arch, ratios, 8)
    # 8 channels (conv1_1): 8 - 2 = 6 -> 8 (all); 128 (fc7): 128 - 38 = 90 -> 96; fems0/eyes_3 (16): 12 -> 16
    assert (rounded['vgg_16/conv1/conv1_1'], rounded['fc7'], rounded['fems0/eyes_3']) == (8, 96, 16)
    assert (plain['vgg_16/conv1/conv1_1'], plain['fc7'], plain['fems0/eyes_3']) == (6, 90, 12)


def test_planned_kept_uses_floor():
    arch = Architecture.from_model_config(small_config(width_mult=0.25).MODEL)  # conv1_1: 16 channels
    kept = macs.planned_kept(arch, {'vgg_16/conv1/conv1_1': 0.3, 'fc6': 0.29, 'fc7': 0.})
    assert kept == {'vgg_16/conv1/conv1_1': 12, 'fc6': 256 - 74, 'fc7': 256}


def test_profiler_reports_twice_the_macs_dilated_fem_convs_included():
    """The inference graph's dilated FEM convs are native Conv2Ds: the profiler sees no SpaceToBatch padding."""
    config = small_config(width_mult=0.125)
    arch = Architecture.from_model_config(config.MODEL)
    graph, outputs, endpoints = macs.inference_graph(arch, (128, 128), config)
    counted = sum(c.macs for c in macs.count_convs(endpoints.recorder))
    assert macs.profiler_conv_flops(graph) == 2 * counted


def test_macs_saved_equals_counting_the_slim_graph():
    config = small_config(width_mult=0.125)
    arch = Architecture.from_model_config(config.MODEL)
    dense = macs.count_arch(arch, (64, 96), config)
    total = sum(c.macs for c in dense)
    for layer, kept in (('vgg_16/conv3/conv3_3', 5), ('vgg_16/conv5/conv5_3', 7), ('fc7', 1),
                        ('extra/extra_conv2', 60), ('extra/extra_conv4', 3), ('fpn/res1', 9),
                        ('fems0/eyes_2_1', 5), ('fems2/eyes_2', 3), ('fems4/eyes_3_1', 1)):
        slim = macs.count_arch(arch.with_channels({layer: kept}), (64, 96), config)
        assert macs.macs_saved(dense, layer, kept) == total - sum(c.macs for c in slim)


@pytest.mark.parametrize('round_to', [1, 8])
def test_uniform_ratio_is_the_smallest_reaching_the_budget(full, round_to):
    _, arch, counts = full
    dense = macs.total_macs(counts, arch.channels)

    def fraction(ratio):
        channels = dict(arch.channels)
        channels.update(macs.planned_kept(arch, dict.fromkeys(arch.groups, ratio), round_to))
        return macs.total_macs(counts, channels) / float(dense)
    ratio = macs.uniform_ratio(arch, counts, 0.25, round_to)
    assert fraction(ratio) <= 0.25 < fraction(ratio - 1e-6)
    with pytest.raises(UserError, match='below what one channel per group reaches'):
        macs.uniform_ratio(arch, counts, 1e-4, round_to)
