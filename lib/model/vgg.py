"""VGG16 backbone (TF-slim names, so ImageNet vgg_16.ckpt loads; fc6 and fc7 at the top level, as the original
names them) and the DSFD extra layers."""
from lib.model import layers
from lib.model.arch import BACKBONE_LAYERS

# conv layers per block of vgg_16; each block ends with a 2x2/2 max-pool (pool5 included).
_VGG_BLOCKS = [[name for name in BACKBONE_LAYERS if name.startswith('vgg_16/conv%d/' % block)]
               for block in range(1, 6)]


def vgg16(recorder, images, arch):
    """Run conv1_1 .. fc7 on preprocessed images; return {prunable layer name: ReLU output}."""
    outputs = {}
    x, source = images, None
    for block_index, block in enumerate(_VGG_BLOCKS, start=1):
        for name in block:
            x = layers.conv2d(recorder, x, arch.channels[name], 3, name, 'backbone', input_source=source,
                              channel_group=name)
            outputs[name], source = x, name
        x = layers.max_pool(x, 'vgg_16/pool%d' % block_index)
    x = layers.conv2d(recorder, x, arch.channels['fc6'], 3, 'fc6', 'backbone', input_source=source,
                      channel_group='fc6')
    outputs['fc6'] = x
    x = layers.conv2d(recorder, x, arch.channels['fc7'], 1, 'fc7', 'backbone', input_source='fc6',
                      channel_group='fc7')
    outputs['fc7'] = x
    return outputs


def extras(recorder, fc7, arch):
    """extra_conv1..4 after fc7 (1x1 squeeze, 3x3 stride-2 expand, twice): strides 64 and 128."""
    outputs = {}
    x, source = fc7, 'fc7'
    for index, (kernel, stride) in enumerate([(1, 1), (3, 2), (1, 1), (3, 2)], start=1):
        name = 'extra/extra_conv%d' % index
        x = layers.conv2d(recorder, x, arch.channels[name], kernel, name, 'extras',
                          input_source=source, stride=stride, channel_group=name)
        outputs[name], source = x, name
    return outputs
