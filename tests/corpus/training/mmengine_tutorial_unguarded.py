#: linux: -
#: windows: -
# Getting-started style: DataLoader objects handed to Runner, trained at module level,
# with no workers (so nothing is spawned on import).
import torchvision
import torchvision.transforms as transforms
from mmengine.runner import Runner
from torch.utils.data import DataLoader

norm_cfg = dict(mean=[0.491, 0.482, 0.447], std=[0.202, 0.199, 0.201])
train_dataloader = DataLoader(
    batch_size=32,
    shuffle=True,
    dataset=torchvision.datasets.CIFAR10(
        'data/cifar10', train=True, download=True,
        transform=transforms.Compose([transforms.RandomCrop(32, padding=4),
                                      transforms.ToTensor(), transforms.Normalize(**norm_cfg)])))
val_dataloader = DataLoader(
    batch_size=32,
    shuffle=False,
    dataset=torchvision.datasets.CIFAR10(
        'data/cifar10', train=False, download=True,
        transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize(**norm_cfg)])))
runner = Runner(
    model=MMResNet50(),
    work_dir='./work_dir',
    train_dataloader=train_dataloader,
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.001, momentum=0.9)),
    train_cfg=dict(by_epoch=True, max_epochs=5, val_interval=1),
    val_dataloader=val_dataloader,
    val_cfg=dict(),
    val_evaluator=dict(type=Accuracy),
)
runner.train()
