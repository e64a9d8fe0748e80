"""Convert MediaPipe's selfie-segmentation TFLite model to ONNX for tract.

    python scripts/convert_segmentation.py IN.tflite OUT.onnx

tflite2onnx does not know MediaPipe's custom op `Convolution2DTransposeBias`
(nor HARD_SWISH), so this converts the whole (small) graph itself with the
`tflite` and `onnx` packages. Only the operators these models use are
handled; anything else stops the conversion with a message naming it.

The ONNX graph works in NCHW like tflite2onnx's: input float [1, 3, H, W],
RGB in 0..1; output [1, 1, H, W], the probability that a pixel shows a person.
Float16 weights behind DEQUANTIZE are folded into float32 constants.
"""

import struct
import sys

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
SAME, VALID = 0, 1

BUILTIN_NAMES = {
    value: name
    for name, value in tflite.BuiltinOperator.__dict__.items()
    if isinstance(value, int)
}
NUMPY_TYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
}


class ConversionError(Exception):
    """The model uses something this converter does not handle."""


def options(op, kind):
    table = op.BuiltinOptions()
    parsed = kind()
    parsed.Init(table.Bytes, table.Pos)
    return parsed


def nchw(shape):
    return [shape[0], shape[3], shape[1], shape[2]]


def same_pads(in_size, kernel, stride):
    """TensorFlow's SAME padding: ONNX [begin, end] for one axis."""
    out_size = -(-in_size // stride)
    total = max((out_size - 1) * stride + kernel - in_size, 0)
    return total // 2, total - total // 2


class Converter:
    def __init__(self, data):
        self.model = tflite.Model.GetRootAsModel(data, 0)
        if self.model.SubgraphsLength() != 1:
            raise ConversionError("expected one subgraph")
        self.graph = self.model.Subgraphs(0)
        self.nodes = []
        self.initializers = []
        self.constants = {}
        self.names = {}
        self.counter = 0
        for index in range(self.graph.TensorsLength()):
            tensor = self.graph.Tensors(index)
            buffer = self.model.Buffers(tensor.Buffer())
            if buffer is not None and buffer.DataLength() > 0:
                dtype = NUMPY_TYPES.get(tensor.Type())
                if dtype is None:
                    raise ConversionError(f"tensor type {tensor.Type()} of {tensor.Name()}")
                array = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype)
                self.constants[index] = array.reshape(self.shape(index))

    def shape(self, index):
        return [int(v) for v in self.graph.Tensors(index).ShapeAsNumpy()]

    def fresh(self, stem):
        self.counter += 1
        return f"{stem}_{self.counter}"

    def name(self, index):
        if index not in self.names:
            self.names[index] = f"t{index}"
        return self.names[index]

    def constant(self, array, stem="const"):
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op_type, inputs, output=None, **attrs):
        output = output or self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attrs))
        return output

    def activation(self, value, code, output):
        """Apply a TFLite fused activation (NONE, RELU, RELU6)."""
        if code == tflite.ActivationFunctionType.NONE:
            return self.node("Identity", [value], output)
        if code == tflite.ActivationFunctionType.RELU:
            return self.node("Relu", [value], output)
        if code == tflite.ActivationFunctionType.RELU6:
            low = self.constant(np.array(0, np.float32))
            high = self.constant(np.array(6, np.float32))
            return self.node("Clip", [value, low, high], output)
        raise ConversionError(f"fused activation {code}")

    def conv_pads(self, padding, in_hw, kernel_hw, stride_hw):
        if padding == VALID:
            return [0, 0, 0, 0]
        (top, bottom) = same_pads(in_hw[0], kernel_hw[0], stride_hw[0])
        (left, right) = same_pads(in_hw[1], kernel_hw[1], stride_hw[1])
        return [top, left, bottom, right]

    def weight(self, index):
        if index not in self.constants:
            raise ConversionError(f"weight tensor {index} is not constant")
        return self.constants[index].astype(np.float32)

    def convert_op(self, op, kind, custom):
        inputs = [int(i) for i in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        out_name = self.name(out)
        if kind == "DEQUANTIZE":
            self.constants[out] = self.weight(inputs[0])
        elif kind == "CONV_2D":
            o = options(op, tflite.Conv2DOptions)
            if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise ConversionError("dilated convolution")
            w = self.weight(inputs[1]).transpose(0, 3, 1, 2)
            b = self.weight(inputs[2])
            stride = [o.StrideH(), o.StrideW()]
            pads = self.conv_pads(o.Padding(), self.shape(inputs[0])[1:3], w.shape[2:], stride)
            conv = self.node(
                "Conv",
                [self.name(inputs[0]), self.constant(w, "w"), self.constant(b, "b")],
                strides=stride,
                pads=pads,
                kernel_shape=list(w.shape[2:]),
            )
            self.activation(conv, o.FusedActivationFunction(), out_name)
        elif kind == "DEPTHWISE_CONV_2D":
            o = options(op, tflite.DepthwiseConv2DOptions)
            if o.DilationHFactor() != 1 or o.DilationWFactor() != 1:
                raise ConversionError("dilated depthwise convolution")
            channels = self.shape(inputs[0])[3]
            w = self.weight(inputs[1]).transpose(3, 0, 1, 2)
            b = self.weight(inputs[2])
            stride = [o.StrideH(), o.StrideW()]
            pads = self.conv_pads(o.Padding(), self.shape(inputs[0])[1:3], w.shape[2:], stride)
            conv = self.node(
                "Conv",
                [self.name(inputs[0]), self.constant(w, "w"), self.constant(b, "b")],
                strides=stride,
                pads=pads,
                kernel_shape=list(w.shape[2:]),
                group=channels,
            )
            self.activation(conv, o.FusedActivationFunction(), out_name)
        elif kind == "AVERAGE_POOL_2D":
            o = options(op, tflite.Pool2DOptions)
            in_hw = self.shape(inputs[0])[1:3]
            kernel = [o.FilterHeight(), o.FilterWidth()]
            if kernel == in_hw:
                pool = self.node("GlobalAveragePool", [self.name(inputs[0])])
            else:
                if o.Padding() != VALID:
                    raise ConversionError("SAME average pooling")
                pool = self.node(
                    "AveragePool",
                    [self.name(inputs[0])],
                    kernel_shape=kernel,
                    strides=[o.StrideH(), o.StrideW()],
                )
            self.activation(pool, o.FusedActivationFunction(), out_name)
        elif kind == "MEAN":
            axes = [int(a) for a in self.constants[inputs[1]].reshape(-1)]
            if sorted(axes) != [1, 2] or not options(op, tflite.ReducerOptions).KeepDims():
                raise ConversionError(f"MEAN over {axes}")
            self.node("GlobalAveragePool", [self.name(inputs[0])], out_name)
        elif kind in ("ADD", "MUL"):
            o = options(op, tflite.AddOptions if kind == "ADD" else tflite.MulOptions)
            for i in inputs:
                if i in self.constants:
                    raise ConversionError(f"{kind} with a constant operand")
            value = self.node(kind.capitalize(), [self.name(i) for i in inputs])
            self.activation(value, o.FusedActivationFunction(), out_name)
        elif kind == "RELU":
            self.node("Relu", [self.name(inputs[0])], out_name)
        elif kind == "LOGISTIC":
            self.node("Sigmoid", [self.name(inputs[0])], out_name)
        elif kind == "HARD_SWISH":
            gate = self.node("HardSigmoid", [self.name(inputs[0])], alpha=1.0 / 6.0, beta=0.5)
            self.node("Mul", [self.name(inputs[0]), gate], out_name)
        elif kind == "RESIZE_BILINEAR":
            o = options(op, tflite.ResizeBilinearOptions)
            if o.AlignCorners():
                mode = "align_corners"
            elif o.HalfPixelCenters():
                mode = "half_pixel"
            else:
                mode = "asymmetric"
            size = self.shape(out)
            sizes = np.array([size[0], size[3], size[1], size[2]], np.int64)
            self.node(
                "Resize",
                [self.name(inputs[0]), "", "", self.constant(sizes, "sizes")],
                out_name,
                mode="linear",
                coordinate_transformation_mode=mode,
            )
        elif kind == "CUSTOM" and custom == b"Convolution2DTransposeBias":
            # MediaPipe's op: TRANSPOSE_CONV plus bias; its options are the
            # raw TfLiteTransposeConvParams {padding, stride_w, stride_h}.
            raw = bytes(op.CustomOptionsAsNumpy())
            padding, stride_w, stride_h = struct.unpack("<iii", raw[:12])
            w = self.weight(inputs[1])  # [out, kh, kw, in]
            b = self.weight(inputs[2])
            in_hw = self.shape(inputs[0])[1:3]
            out_hw = self.shape(out)[1:3]
            kernel = list(w.shape[1:3])
            pads = []
            totals = []
            for axis, stride in enumerate([stride_h, stride_w]):
                total = (in_hw[axis] - 1) * stride + kernel[axis] - out_hw[axis]
                if total < 0:
                    raise ConversionError("transposed convolution would need output padding")
                totals.append(total)
            pads = [totals[0] // 2, totals[1] // 2, totals[0] - totals[0] // 2, totals[1] - totals[1] // 2]
            if padding == VALID and any(totals):
                raise ConversionError("VALID transposed convolution with cropping")
            self.node(
                "ConvTranspose",
                [
                    self.name(inputs[0]),
                    self.constant(w.transpose(3, 0, 1, 2), "w"),
                    self.constant(b, "b"),
                ],
                out_name,
                strides=[stride_h, stride_w],
                pads=pads,
                kernel_shape=kernel,
            )
        else:
            raise ConversionError(f"operator {kind} {custom or ''}")

    def convert(self):
        codes = []
        for index in range(self.model.OperatorCodesLength()):
            code = self.model.OperatorCodes(index)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            codes.append((BUILTIN_NAMES.get(builtin, str(builtin)), code.CustomCode()))
        if self.graph.InputsLength() != 1 or self.graph.OutputsLength() != 1:
            raise ConversionError("expected one input and one output")
        model_in = int(self.graph.Inputs(0))
        model_out = int(self.graph.Outputs(0))
        in_shape = self.shape(model_in)
        out_shape = self.shape(model_out)
        self.names[model_in] = "input"
        self.names[model_out] = "mask"
        for index in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(index)
            kind, custom = codes[op.OpcodeIndex()]
            self.convert_op(op, kind, custom)
        graph = helper.make_graph(
            self.nodes,
            "selfie_segmentation",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, nchw(in_shape))],
            [helper.make_tensor_value_info("mask", TensorProto.FLOAT, nchw(out_shape))],
            self.initializers,
        )
        model = helper.make_model(
            graph,
            producer_name="liveroom scripts/convert_segmentation.py",
            opset_imports=[helper.make_opsetid("", OPSET)],
        )
        model.ir_version = 7
        onnx.checker.check_model(model)
        return model


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], "rb") as source:
        data = source.read()
    try:
        model = Converter(data).convert()
    except ConversionError as error:
        print(f"convert_segmentation: {sys.argv[1]}: {error}", file=sys.stderr)
        sys.exit(1)
    onnx.save(model, sys.argv[2])


if __name__ == "__main__":
    main()
