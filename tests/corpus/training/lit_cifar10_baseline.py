#: linux: GD601
#: windows: GD601
# %%
import os

import torch
import torchvision
from pl_bolts.datamodules import CIFAR10DataModule
from pytorch_lightning import LightningModule, Trainer, seed_everything

seed_everything(7)

PATH_DATASETS = os.environ.get("PATH_DATASETS", ".")
BATCH_SIZE = 256 if torch.cuda.is_available() else 64
NUM_WORKERS = int(os.cpu_count() / 2)

cifar10_dm = CIFAR10DataModule(
    data_dir=PATH_DATASETS,
    batch_size=BATCH_SIZE,
    num_workers=NUM_WORKERS,
)


# %%
class LitResnet(LightningModule):
    def __init__(self, lr=0.05):
        super().__init__()
        self.model = torchvision.models.resnet18(num_classes=10)


# %%
model = LitResnet(lr=0.05)
trainer = Trainer(max_epochs=30, accelerator="auto", devices=1)
trainer.fit(model, cifar10_dm)
trainer.test(model, datamodule=cifar10_dm)
