#: linux: GD601
#: windows: GD601
import multiprocessing

import torch

loader = torch.utils.data.DataLoader(
    TextDataset("corpus.txt"), batch_size=128, shuffle=True, num_workers=multiprocessing.cpu_count()
)
for epoch in range(3):
    for tokens in loader:
        step(tokens)
