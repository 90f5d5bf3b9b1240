#: linux: GD601
#: windows: GD601 GD605
# Quick-start style: the model is trained at module level, no __main__ guard.
from ultralytics import YOLO

model = YOLO("yolo11n.pt")
results = model.train(data="coco8.yaml", epochs=100, imgsz=640)
