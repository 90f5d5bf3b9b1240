#: linux: -
#: windows: -
import argparse

from torch.utils.data import DataLoader

from pytorchyolo.utils.datasets import ListDataset


def _create_data_loader(img_path, batch_size, img_size, n_cpu, multiscale_training=False):
    dataset = ListDataset(img_path, img_size=img_size, multiscale=multiscale_training)
    dataloader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=n_cpu,
        pin_memory=True,
        collate_fn=dataset.collate_fn)
    return dataloader


def run():
    parser = argparse.ArgumentParser(description="Trains the YOLO model.")
    parser.add_argument("-e", "--epochs", type=int, default=300)
    parser.add_argument("--n_cpu", type=int, default=8, help="Number of cpu threads")
    args = parser.parse_args()
    dataloader = _create_data_loader("train.txt", 8, 416, args.n_cpu, True)
    for epoch in range(args.epochs):
        for batch_i, (_, imgs, targets) in enumerate(dataloader):
            pass


if __name__ == "__main__":
    run()
