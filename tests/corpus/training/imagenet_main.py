#: linux: -
#: windows: -
import argparse

import torch
import torch.utils.data
import torchvision.datasets as datasets

parser = argparse.ArgumentParser(description='PyTorch ImageNet Training')
parser.add_argument('data', metavar='DIR', nargs='?', default='imagenet')
parser.add_argument('-j', '--workers', default=4, type=int, metavar='N',
                    help='number of data loading workers (default: 4)')
parser.add_argument('-b', '--batch-size', default=256, type=int, metavar='N')


def main():
    args = parser.parse_args()
    main_worker(args.gpu, 1, args)


def main_worker(gpu, ngpus_per_node, args):
    train_dataset = datasets.ImageFolder(args.data)
    train_sampler = None
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=(train_sampler is None),
        num_workers=args.workers, pin_memory=True, sampler=train_sampler)
    for i, (images, target) in enumerate(train_loader):
        pass


if __name__ == '__main__':
    main()
