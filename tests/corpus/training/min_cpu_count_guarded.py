#: linux: -
#: windows: -
import os

from torch.utils.data import DataLoader


def main():
    workers = min(8, os.cpu_count() or 1)
    loader = DataLoader(Images("data/train"), batch_size=32, num_workers=workers, persistent_workers=True)
    for epoch in range(5):
        for batch in loader:
            pass


if __name__ == "__main__":
    main()
