#: linux: GD603
#: windows: GD603
#: kind: config
# Debugging setting from issue threads: workers turned off, persistent_workers left on.
_base_ = ['../_base_/models/faster-rcnn_r50_fpn.py', '../_base_/datasets/coco_detection.py']
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=True)
val_dataloader = dict(batch_size=1, num_workers=0)
