#: linux: GD601
#: windows: GD601
# Runner built from dicts at module level, loader with workers: the Windows failure.
from mmengine.runner import Runner

runner = Runner(
    model=dict(type='ToyModel'),
    work_dir='./work_dir',
    train_dataloader=dict(
        batch_size=32,
        num_workers=2,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset=dict(type='ToyDataset')),
    train_cfg=dict(by_epoch=True, max_epochs=3),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
)
runner.train()
