"""Running a frozen detector: FaceDetector, the WIDER test protocol, drawing detections."""
