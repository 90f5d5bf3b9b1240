#: linux: -
#: windows: GD605
# The fix users are told to apply: train only under the __main__ guard.
from ultralytics import YOLO

if __name__ == "__main__":
    model = YOLO("yolov8n.pt")
    model.train(data="data.yaml", epochs=30, imgsz=416, batch=8, workers=4, device=0)
