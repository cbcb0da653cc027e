"""The registry: every consumer of each prunable layer's channels, read off the built graph."""
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.pruning.registry import build_model_graph, layer_scope, registry_name
from pruning_helpers import small_config


def consumers(registry, name):
    layer = registry[name]
    return sorted(c.name for c in layer.consumers), sorted(s.name for s in layer.scales)


def test_consumers_of_every_kind():
    arch = Architecture.from_model_config(small_config(width_mult=0.125).MODEL)
    registry = build_model_graph(arch)[3]
    assert list(registry) == PRUNABLE_LAYERS
    assert registry['fc6'].conv.name == 'vgg_16/fc6'
    assert consumers(registry, 'vgg_16/conv1/conv1_1') == (['vgg_16/conv1/conv1_2'], [])
    assert consumers(registry, 'vgg_16/conv3/conv3_3') == (
        ['fpn/lateral_0', 'head/first/level0/box', 'head/first/level0/cls', 'vgg_16/conv4/conv4_1'],
        ['L2Norm/level0'])
    assert consumers(registry, 'vgg_16/conv4/conv4_3') == (
        ['fpn/lateral_1', 'fpn/top_down_0', 'head/first/level1/box', 'head/first/level1/cls',
         'vgg_16/conv5/conv5_1'], ['L2Norm/level1'])
    assert consumers(registry, 'fc7') == (
        ['extra/extra_conv1', 'fpn/lateral_3', 'fpn/top_down_2', 'head/first/level3/box', 'head/first/level3/cls'],
        [])
    assert consumers(registry, 'extra/extra_conv4') == (
        ['fpn/lateral_5', 'fpn/top_down_4', 'head/first/level5/box', 'head/first/level5/cls'], [])
    assert consumers(registry, 'extra/extra_conv3') == (['extra/extra_conv4'], [])


def test_single_shot_model_has_no_fpn_consumers():
    config = small_config(width_mult=0.125)
    config.MODEL.fpn = False
    registry = build_model_graph(Architecture.from_model_config(config.MODEL))[3]
    assert consumers(registry, 'fc7')[0] == ['extra/extra_conv1', 'head/first/level3/box', 'head/first/level3/cls']


def test_names_and_scopes():
    assert layer_scope('fc7') == 'vgg_16/fc7' and registry_name('vgg_16/fc7') == 'fc7'
    assert layer_scope('extra/extra_conv1') == registry_name('extra/extra_conv1') == 'extra/extra_conv1'
    assert registry_name('fpn/lateral_0') == 'fpn/lateral_0'
