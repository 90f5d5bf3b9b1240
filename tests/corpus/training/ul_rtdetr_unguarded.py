#: linux: GD601
#: windows: GD601 GD605
from ultralytics import RTDETR

model = RTDETR("rtdetr-l.pt")
model.info()
results = model.train(data="coco8.yaml", epochs=100, imgsz=640)
