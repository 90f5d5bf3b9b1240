#: linux: -
#: windows: GD605
from ultralytics import YOLO


def main():
    model = YOLO("yolov8m.pt")
    model.train(data="coco.yaml", epochs=300, imgsz=640, batch=64, workers=16)


if __name__ == "__main__":
    main()
