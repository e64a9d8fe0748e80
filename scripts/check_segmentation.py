"""Compare the converted segmentation models with MediaPipe's own runtime.

    python scripts/check_segmentation.py [assets/models] [assets/photos/astronaut.png]

Not part of set-up: it needs a separate venv with `mediapipe==0.10.21`
(its solution API runs the original TFLite models, custom op included),
`protobuf<5`, `onnxruntime` and `pillow`. The picture is resized to each
model's input size first, so MediaPipe's own resize is the identity and the
two masks compare value for value. Prints the largest absolute difference.
"""

import sys

import mediapipe as mp
import numpy as np
import onnxruntime as ort
from PIL import Image

models = sys.argv[1] if len(sys.argv) > 1 else "assets/models"
photo = sys.argv[2] if len(sys.argv) > 2 else "assets/photos/astronaut.png"
picture = Image.open(photo).convert("RGB")
worst = 0.0
for selection, name, size in [
    (0, "selfie_segmentation", (256, 256)),
    (1, "selfie_segmentation_landscape", (256, 144)),
]:
    session = ort.InferenceSession(f"{models}/{name}.onnx")
    for crop in [None, (0, 100, 512, 388)]:
        image = picture if crop is None else picture.crop(crop)
        rgb = np.asarray(image.resize(size, Image.BILINEAR))
        with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection) as seg:
            reference = seg.process(rgb).segmentation_mask
        tensor = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        ours = session.run(None, {"input": tensor})[0][0, 0]
        difference = np.abs(ours - reference)
        worst = max(worst, float(difference.max()))
        print(f"{name} crop {crop}: max |diff| {difference.max():.2e}, mean mask {reference.mean():.3f}")
print(f"largest difference {worst:.2e}")
sys.exit(0 if worst < 1e-3 else 1)
