"""The registry: every consumer of each pruning group's channels, read off the built graph."""
from lib.model.arch import ALL_GROUPS, PRUNABLE_LAYERS, Architecture, group_convs
from lib.pruning.registry import build_model_graph, input_indices
from pruning_helpers import small_config


def consumers(registry, name):
    return sorted(c.name for c in registry[name].consumers)


def test_consumers_of_every_kind():
    arch = Architecture.from_model_config(small_config(width_mult=0.125).MODEL)
    registry = build_model_graph(arch)[3]
    assert list(registry) == ALL_GROUPS
    assert [c.name for c in registry['fc6'].convs] == ['fc6']
    assert consumers(registry, 'vgg_16/conv1/conv1_1') == ['vgg_16/conv1/conv1_2']
    # of0..of2: the next conv, the first-shot heads (level 0 max-out) and the FPN's lateral conv of the level.
    assert consumers(registry, 'vgg_16/conv3/conv3_3') == [
        'lateral/res0', 'ssdout/maxout0/negative/out_cla0', 'ssdout/maxout0/positive/out_cla1', 'ssdout/out_reg0',
        'vgg_16/conv4/conv4_1']
    assert consumers(registry, 'vgg_16/conv4/conv4_3') == [
        'lateral/res1', 'ssdout/out_cla1', 'ssdout/out_reg1', 'vgg_16/conv5/conv5_1']
    # of3 = fc7: the extras, the cascade's top (merge/res2), its FEM level (eyes_1 and eyes_2_1), its heads.
    assert consumers(registry, 'fc7') == [
        'extra/extra_conv1', 'fems3/eyes_1', 'fems3/eyes_2_1', 'merge/res2', 'ssdout/out_cla3', 'ssdout/out_reg3']
    assert consumers(registry, 'extra/extra_conv4') == [
        'fems5/eyes_1', 'fems5/eyes_2_1', 'ssdout/out_cla5', 'ssdout/out_reg5']
    assert consumers(registry, 'extra/extra_conv3') == ['extra/extra_conv4']


def test_fpn_and_fem_groups():
    """The FPN product couples both convs of a level; eyes_2_1 feeds two convs; the heads read the FEM concat."""
    arch = Architecture.from_model_config(small_config(width_mult=0.125).MODEL)
    registry = build_model_graph(arch)[3]
    for name, group in registry.items():  # hard pruning zeroes group_convs(name): the same convs the graph has
        assert [c.name for c in group.convs] == group_convs(name)
    assert consumers(registry, 'fpn/res1') == ['fems1/eyes_1', 'fems1/eyes_2_1', 'merge/res0']
    assert consumers(registry, 'fpn/res0') == ['fems0/eyes_1', 'fems0/eyes_2_1']
    assert consumers(registry, 'fems2/eyes_2_1') == ['fems2/eyes_2', 'fems2/eyes_3_1']
    assert consumers(registry, 'fems2/eyes_3_1') == ['fems2/eyes_3']
    assert consumers(registry, 'fems1/eyes_2') == ['dual/ssdout/out_cla1', 'dual/ssdout/out_reg1']
    assert registry['fpn/res1'].feature.op.type == 'Mul'  # the product is the group's activation
    # the concat [eyes_1 (32), eyes_2 (16), eyes_3 (16)]: kept channels of eyes_2 and eyes_3 shift by the widths
    head = [c for c in registry['fems1/eyes_2'].consumers if c.name == 'dual/ssdout/out_reg1'][0]
    assert input_indices(registry, head, {'fems1/eyes_2': [3], 'fems1/eyes_3': [0, 15]}) == \
        list(range(32)) + [32 + 3, 48 + 0, 48 + 15]


def test_single_shot_model_has_no_fpn_consumers():
    config = small_config(width_mult=0.125)
    config.MODEL.fpn = False
    registry = build_model_graph(Architecture.from_model_config(config.MODEL))[3]
    assert consumers(registry, 'fc7') == ['extra/extra_conv1', 'ssdout/out_cla3', 'ssdout/out_reg3']
    assert list(registry) == PRUNABLE_LAYERS == arch_groups(config)


def arch_groups(config):
    return Architecture.from_model_config(config.MODEL).groups
