#: linux: GD602 GD604
#: windows: GD602 GD604 GD605
import torch
import torch.utils.data
import torchvision
from torch.utils.data.dataloader import default_collate


def main(args):
    dataset, dataset_test, train_sampler, test_sampler = load_data(args)
    num_classes = len(dataset.classes)
    mixup_cutmix = get_mixup_cutmix(mixup_alpha=args.mixup_alpha, cutmix_alpha=args.cutmix_alpha,
                                    num_classes=num_classes)
    if mixup_cutmix is not None:

        def collate_fn(batch):
            return mixup_cutmix(*default_collate(batch))

    else:
        collate_fn = default_collate

    data_loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        sampler=train_sampler,
        num_workers=args.workers,
        pin_memory=True,
        collate_fn=collate_fn,
    )
    for epoch in range(args.start_epoch, args.epochs):
        for image, target in data_loader:
            pass


def get_args_parser(add_help=True):
    import argparse

    parser = argparse.ArgumentParser(description="PyTorch Classification Training", add_help=add_help)
    parser.add_argument("--data-path", default="/datasets01/imagenet_full_size/061417/", type=str)
    parser.add_argument("-b", "--batch-size", default=32, type=int)
    parser.add_argument("--epochs", default=90, type=int, metavar="N")
    parser.add_argument("-j", "--workers", default=16, type=int, metavar="N",
                        help="number of data loading workers (default: 16)")
    return parser


if __name__ == "__main__":
    args = get_args_parser().parse_args()
    main(args)
