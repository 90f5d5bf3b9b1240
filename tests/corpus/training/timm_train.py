#: linux: -
#: windows: -
import argparse

from timm.data import create_dataset, create_loader, resolve_data_config

parser = argparse.ArgumentParser(description='PyTorch ImageNet Training')
parser.add_argument('--data-dir', metavar='DIR')
parser.add_argument('-b', '--batch-size', type=int, default=128, metavar='N')
parser.add_argument('-j', '--workers', type=int, default=4, metavar='N',
                    help='how many training processes to use (default: 4)')
parser.add_argument('--pin-mem', action='store_true', default=False)


def main():
    args = parser.parse_args()
    dataset_train = create_dataset('', root=args.data_dir, split='train', is_training=True)
    loader_train = create_loader(
        dataset_train,
        input_size=(3, 224, 224),
        batch_size=args.batch_size,
        is_training=True,
        num_workers=args.workers,
        pin_memory=args.pin_mem,
    )
    for epoch in range(10):
        for batch_idx, (input, target) in enumerate(loader_train):
            pass


if __name__ == '__main__':
    main()
