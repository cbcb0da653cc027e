"""Configuration of `python pruned_train.py` (and the defaults of every other tool).

Edit the values here, or copy this file and change what you need (see `demo_config.py`). Entry scripts
validate the whole config at start-up (`lib.config.validate_config`): a bad value stops the
program with one line naming the field.
"""
from easydict import EasyDict as edict

config = edict()

# ---------------------------------------------------------------- training
config.TRAIN = edict()
config.TRAIN.num_gpu = 1                 # towers; the batch is split across them, gradients are averaged
config.TRAIN.process_num = 2             # data worker processes (0 = load in the training process)
config.TRAIN.prefetch_size = 16          # batches queued ahead by the workers
config.TRAIN.batch_size = 8              # images per step over all towers; lower it on out-of-memory errors
config.TRAIN.epoch = 100                 # epochs to train (an epoch = one pass over train.txt)
config.TRAIN.log_interval = 10           # steps between log lines
config.TRAIN.rolling_checkpoint_secs = 300  # a rolling checkpoint this often, so a kill costs minutes, not an epoch
config.TRAIN.worker_timeout_secs = 120   # cluster (TF_CONFIG): stop when a task shows no sign of life this long
# Piecewise-constant learning rate: steps [0, 1000) use 0.001, [1000, 10000) 0.005, [10000, ...) 0.0005.
config.TRAIN.lr_value_every_step = [0.001, 0.005, 0.0005]
config.TRAIN.lr_decay_every_step = [1000, 10000]
config.TRAIN.optimizer = 'momentum'     # 'momentum' (the reference recipe) or 'adam' (small models from scratch)
config.TRAIN.momentum = 0.9
config.TRAIN.weight_decay_factor = 5.e-4  # L2 on conv weights (biases excluded)
config.TRAIN.gradient_clip = 5.          # clip the global gradient norm (0 = off)
# Pruning. pruned_alpha == 0 trains a standard model; > 0 adds the sparsity loss x pruned_alpha.
config.TRAIN.pruned_alpha = 1.
config.TRAIN.pruned_loss = 'activation'  # 'activation' (the original method) or 'group_lasso'
# One ratio per prunable layer, in registry order: conv1_1, conv1_2, conv2_1, conv2_2, conv3_1..conv3_3,
# conv4_1..conv4_3, conv5_1..conv5_3, fc6, fc7 (15 values), optionally followed by the 4 extra layers
# (19 values); or a dict {layer or group: ratio} reaching any pruning group, e.g. {'vgg_16/conv5/conv5_1': 0.5,
# 'fpn/res1': 0.5, 'fems0/eyes_2_1': 0.25}; or 'all:0.5' (every prunable group). Each in [0, 1).
config.TRAIN.pruned_ratio = [0.] * 15
config.TRAIN.round_to = 1                # kept channel counts rounded up to a multiple of this (8/16: SIMD-friendly)
# Distillation (only with a teacher: --teacher=CKPT or distill_teacher): the student also learns the teacher's
# softened face/background scores on every anchor, its box offsets on the positive anchors and, optionally, its FEM
# outputs near the faces. The teacher (a dense or larger checkpoint of this project) runs frozen in the same graph.
config.TRAIN.distill_teacher = None       # checkpoint prefix or training folder of the teacher (None = no distillation)
config.TRAIN.distill_cls_weight = 1.      # weight of T^2 KL(teacher || student) of the softened scores, all anchors
config.TRAIN.distill_temperature = 2.     # softmax temperature T of both score distributions
config.TRAIN.distill_box_weight = 1.      # weight of smooth-L1(student - teacher box offsets) on positive anchors
config.TRAIN.distill_feature_weight = 0.  # weight of FEM-output imitation at positive anchors (0 = off)

# ---------------------------------------------------------------- data
config.DATA = edict()
config.DATA.root_path = 'data/WIDER'     # the WIDER FACE download (WIDER_train, WIDER_val, wider_face_split)
config.DATA.train_txt_path = 'data/train.txt'  # written by tools/prepare_wider_data.py
config.DATA.val_txt_path = 'data/val.txt'
config.DATA.hin = 640                    # network input height and width (multiples of 32)
config.DATA.win = 640
config.DATA.PIXEL_MEAN = [123.675, 116.28, 103.53]  # RGB; the graph computes (x - mean) / std
config.DATA.PIXEL_STD = [1., 1., 1.]     # 1: what ImageNet vgg_16.ckpt was trained with
config.DATA.seed = 0                     # augmentation and shuffling seed

# ---------------------------------------------------------------- anchors
config.ANCHOR = edict()
config.ANCHOR.strides = [4, 8, 16, 32, 64, 128]   # one anchor per pixel of each source map
config.ANCHOR.sizes = [16, 32, 64, 128, 256, 512]  # second-shot anchor widths
config.ANCHOR.aspect_ratio = 1.5         # height / width (faces are taller than wide)
config.ANCHOR.first_shot_scale = 0.5     # PAL: first-shot anchors are half the second-shot ones
config.ANCHOR.positive_iou = 0.35        # IoU for a positive anchor (plus each face's best anchor)
config.ANCHOR.encode_scale = 5.          # box offsets / anchor size x this
config.ANCHOR.neg_pos_ratio = 3          # OHEM: hard negatives per positive

# ---------------------------------------------------------------- model
config.MODEL = edict()
config.MODEL.model_path = './face_detector/'  # checkpoints: epoch_{e}.ckpt, optimized/epoch_{e}_val_loss_{v}.ckpt
config.MODEL.pretrained_model = None     # vgg_16.ckpt (ImageNet) or a DSFD checkpoint to fine-tune (pruning)
config.MODEL.decimate_imagenet_fc = True  # fc6/fc7 from ImageNet vgg_16.ckpt by SSD-style subsampling
# The original's meaning: restore every model variable from pretrained_model (strict: a missing or mis-shaped one
# is an error), then train from step 0 with fresh optimizer state (the pruning fine-tune of the original).
config.MODEL.continue_train = False
# Continue the run in model_path whatever it started from (--resume); re-running the same command resumes anyway.
config.MODEL.resume = False
config.MODEL.max_to_keep = 5             # epoch checkpoints (and optimized ones) kept
config.MODEL.net_structure = 'vgg_16'
config.MODEL.fpn = True                  # second shot: cascaded FPN + FEM (False: a plain SSD on the sources)
config.MODEL.dual_mode = True            # train both shots (PAL); inference uses the second
config.MODEL.maxout = True               # max-out background on the stride-4 level
config.MODEL.l2_norm = [10., 8., 5.]     # constant L2Norm scales of conv3_3, conv4_3, conv5_3 (and FEM maps 0..2)
config.MODEL.fpn_dims = [256, 512, 512, 1024, 512, 256]  # FPN widths of levels 0, 1, 2 (an int: all three)
config.MODEL.fem_dims = 512              # FEM output channels (256 + 128 + 128)
config.MODEL.width_mult = 1.             # scales every channel count (small values for tests and the demo)

# ---------------------------------------------------------------- inference
config.TEST = edict()
config.TEST.score_thres = 0.05
config.TEST.iou_thres = 0.3
config.TEST.max_detect = 750
config.TEST.pre_nms_top_k = 5000       # NMS (and box decoding) on the best-scoring anchors only, per image
