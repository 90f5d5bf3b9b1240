#: linux: GD604
#: windows: GD604 GD605
#: kind: config
_base_ = [
    '../_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py', '../_base_/default_runtime.py'
]
train_dataloader = dict(batch_size=8, num_workers=16)
optim_wrapper = dict(optimizer=dict(lr=0.04))
