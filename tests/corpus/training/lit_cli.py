#: linux: -
#: windows: -
from lightning.pytorch.cli import LightningCLI

from project.data import ImageDataModule
from project.model import Classifier


def cli_main():
    LightningCLI(Classifier, ImageDataModule, save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    cli_main()
