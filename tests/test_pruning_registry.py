"""The registry: every consumer of each prunable layer's channels, read off the built graph."""
from lib.model.arch import PRUNABLE_LAYERS, Architecture
from lib.pruning.registry import build_model_graph
from pruning_helpers import small_config


def consumers(registry, name):
    return sorted(c.name for c in registry[name].consumers)


def test_consumers_of_every_kind():
    arch = Architecture.from_model_config(small_config(width_mult=0.125).MODEL)
    registry = build_model_graph(arch)[3]
    assert list(registry) == PRUNABLE_LAYERS
    assert registry['fc6'].conv.name == 'fc6'
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


def test_single_shot_model_has_no_fpn_consumers():
    config = small_config(width_mult=0.125)
    config.MODEL.fpn = False
    registry = build_model_graph(Architecture.from_model_config(config.MODEL))[3]
    assert consumers(registry, 'fc7') == ['extra/extra_conv1', 'ssdout/out_cla3', 'ssdout/out_reg3']
