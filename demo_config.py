"""The configuration `make demo` trains with: a small DSFD on the synthetic WIDER-format set.

It shows how to write your own config: start from `pruned_train_config.config`, change what differs,
and pass the file with `--config=my_config.py` to every tool.
"""
import copy

from pruned_train_config import config as _default

config = copy.deepcopy(_default)

config.DATA.root_path = 'demo_run/data'           # written by tools/make_synthetic_wider.py
config.DATA.train_txt_path = 'demo_run/data/train.txt'
config.DATA.val_txt_path = 'demo_run/data/val.txt'
config.DATA.hin = 256                             # small input: CPU-friendly
config.DATA.win = 256
config.DATA.PIXEL_STD = [58.395, 57.12, 57.375]   # trained from scratch, so normalise the input scale

config.MODEL.model_path = 'demo_run/standard/'
config.MODEL.width_mult = 0.25                    # a quarter of every channel count
config.MODEL.max_to_keep = 2

config.TRAIN.batch_size = 8
config.TRAIN.epoch = 8
config.TRAIN.process_num = 2
config.TRAIN.log_interval = 20
config.TRAIN.weight_decay_factor = 1.e-4
config.TRAIN.optimizer = 'adam'                   # from scratch, a small model learns faster with Adam
config.TRAIN.lr_value_every_step = [0.001, 0.0003]
config.TRAIN.lr_decay_every_step = [450]          # the last epochs at the lower rate

# The pruning fine-tune (stage 3 of the demo): start from the standard model, kill half the channels of every
# backbone layer with the original activation loss. The schedule restarts, so it runs at 0.001.
config.TRAIN.pruned_alpha = 1.
config.TRAIN.pruned_loss = 'activation'
config.TRAIN.pruned_ratio = [0.5] * 15
config.TRAIN.round_to = 8                         # kept counts in multiples of 8: faster in onnxruntime / OpenVINO

config.TEST.score_thres = 0.05
config.TEST.max_detect = 200
config.TEST.pre_nms_top_k = 5000                 # NMS on the best-scoring anchors (5,460 at 256x256)
