#: linux: -
#: windows: -
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoTokenizer

MAX_GPU_BATCH_SIZE = 16
EVAL_BATCH_SIZE = 32


def get_dataloaders(accelerator: Accelerator, batch_size: int = 16):
    tokenizer = AutoTokenizer.from_pretrained("bert-base-cased")
    datasets = load_dataset("glue", "mrpc")

    def collate_fn(examples):
        max_length = 128 if accelerator.distributed_type == "XLA" else None
        return tokenizer.pad(examples, padding="longest", max_length=max_length, return_tensors="pt")

    train_dataloader = DataLoader(
        datasets["train"], shuffle=True, collate_fn=collate_fn, batch_size=batch_size, drop_last=True
    )
    eval_dataloader = DataLoader(
        datasets["validation"], shuffle=False, collate_fn=collate_fn, batch_size=EVAL_BATCH_SIZE
    )
    return train_dataloader, eval_dataloader


def training_function(config, args):
    accelerator = Accelerator(cpu=args.cpu, mixed_precision=args.mixed_precision)
    train_dataloader, eval_dataloader = get_dataloaders(accelerator, int(config["batch_size"]))
    for epoch in range(3):
        for step, batch in enumerate(train_dataloader):
            pass


def main():
    training_function({"lr": 2e-5, "num_epochs": 3, "seed": 42, "batch_size": 16}, parse())


if __name__ == "__main__":
    main()
