#: linux: GD602
#: windows: GD602
# The MNIST example's **kwargs loaders, with a flattening transforms.Lambda in the dataset.
import torch
from torchvision import datasets, transforms


def main():
    train_kwargs = {'batch_size': 64}
    cuda_kwargs = {'num_workers': 1, 'pin_memory': True, 'shuffle': True}
    train_kwargs.update(cuda_kwargs)
    transform = transforms.Compose([
        transforms.ToTensor(),
        transforms.Lambda(lambda x: x.view(-1)),
    ])
    dataset1 = datasets.MNIST('../data', train=True, download=True, transform=transform)
    train_loader = torch.utils.data.DataLoader(dataset1, **train_kwargs)
    for data, target in train_loader:
        pass


if __name__ == '__main__':
    main()
