#: linux: -
#: windows: GD605
import os

from ultralytics import YOLO

if __name__ == "__main__":
    YOLO("yolo11s.pt").train(data="data.yaml", epochs=100, workers=os.cpu_count(), batch=16)
