#: linux: -
#: windows: -
from trl import SFTConfig, SFTTrainer


def main():
    config = SFTConfig(output_dir="sft-out", per_device_train_batch_size=4, dataloader_num_workers=2)
    trainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B", args=config, train_dataset=dataset)
    trainer.train()


if __name__ == "__main__":
    main()
