#: linux: GD602
#: windows: GD602
from torch.utils.data import DataLoader


def build(ds, batch_size):
    loader_kwargs = dict(num_workers=4, pin_memory=True)
    loader_kwargs["persistent_workers"] = True
    return DataLoader(ds, batch_size=batch_size, collate_fn=lambda b: tuple(zip(*b)), **loader_kwargs)


if __name__ == "__main__":
    for images, targets in build(load(), 8):
        pass
