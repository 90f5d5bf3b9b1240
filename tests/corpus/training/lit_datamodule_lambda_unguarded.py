#: linux: GD601 GD602
#: windows: GD601 GD602
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader


class SeqDataModule(pl.LightningDataModule):
    def __init__(self, train_set, batch_size=16):
        super().__init__()
        self.train_set = train_set
        self.batch_size = batch_size

    def train_dataloader(self):
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            num_workers=4,
            collate_fn=lambda batch: torch.nn.utils.rnn.pad_sequence(batch, batch_first=True),
        )


dm = SeqDataModule(load_sequences("train.pt"))
model = SeqModel()
trainer = pl.Trainer(max_epochs=10, gpus=1)
trainer.fit(model, datamodule=dm)
