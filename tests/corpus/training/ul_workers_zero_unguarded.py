#: linux: -
#: windows: -
# Windows workaround from issue threads: no workers, so nothing is spawned.
from ultralytics import YOLO

model = YOLO("yolov8n.pt")
model.train(data="custom.yaml", epochs=10, imgsz=640, workers=0, batch=4)
