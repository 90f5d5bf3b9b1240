#: linux: -
#: windows: -
import torch
from torch.utils.data import DataLoader

NUM_WORKERS = 4 if torch.cuda.is_available() else 0


def main():
    loader = DataLoader(make_dataset(), batch_size=64, shuffle=True, num_workers=NUM_WORKERS)
    for x, y in loader:
        pass


if __name__ == "__main__":
    main()
