#: linux: -
#: windows: -
import argparse

from utils.dataloaders import create_dataloader


def train(hyp, opt, device):
    batch_size, workers = opt.batch_size, opt.workers
    train_loader, dataset = create_dataloader(
        opt.data,
        opt.imgsz,
        batch_size,
        32,
        hyp=hyp,
        augment=True,
        cache=None if opt.cache == "val" else opt.cache,
        rect=opt.rect,
        workers=workers,
        shuffle=True,
    )
    for epoch in range(opt.epochs):
        for i, (imgs, targets, paths, _) in enumerate(train_loader):
            pass


def parse_opt(known=False):
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=str, default="data/coco128.yaml")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640)
    parser.add_argument("--rect", action="store_true")
    parser.add_argument("--cache", type=str, nargs="?", const="ram")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers")
    return parser.parse_known_args()[0] if known else parser.parse_args()


def main(opt):
    train({}, opt, "cuda:0")


if __name__ == "__main__":
    opt = parse_opt()
    main(opt)
