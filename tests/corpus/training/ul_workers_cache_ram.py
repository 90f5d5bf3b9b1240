#: linux: GD601
#: windows: GD601 GD605
# Chained call with an explicit worker count and a RAM image cache, unguarded.
from ultralytics import YOLO

YOLO("yolov8s.yaml").train(data="datasets/parts.yaml", epochs=50, imgsz=640, batch=32, workers=8, cache="ram")
