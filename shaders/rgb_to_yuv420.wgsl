// RGB texture in, 4:2:0 planes out: the conversion of an RGBA8 or BGRA8
// frame (a caller's texture, or a CPU frame uploaded into one) into the
// frame pipeline's input, done once per frame before the geometry pass.
//
// The maths is src/color.rs's `rgb_to_i420_with`: luma per pixel; U and V
// the mean of each 2×2 block's, summed in the same order; rounded half to
// even and clamped. One invocation converts a 4×2 pixel block: a word of
// luma in each of its two rows and a word of two U, V pairs, written into
// a staging buffer whose rows are 256 bytes aligned (so that a buffer to
// texture copy takes them): luma rows first, then the chroma rows.

struct Convert {
    // Width and height in pixels, words per staging row, first word of
    // the chroma rows.
    size: vec4<u32>,
    // x: 1 when the texture is sRGB (its reads are linear light; they are
    // encoded back to the stored bytes first).
    flags: vec4<u32>,
}

// The RGB → YUV matrix and offsets of src/color.rs, as override constants.
override RGB_TO_YUV_00: f32; override RGB_TO_YUV_01: f32; override RGB_TO_YUV_02: f32;
override RGB_TO_YUV_10: f32; override RGB_TO_YUV_11: f32; override RGB_TO_YUV_12: f32;
override RGB_TO_YUV_20: f32; override RGB_TO_YUV_21: f32; override RGB_TO_YUV_22: f32;
override YUV_OFFSET_0: f32; override YUV_OFFSET_1: f32; override YUV_OFFSET_2: f32;

@group(0) @binding(0) var<uniform> cv: Convert;
@group(0) @binding(1) var source: texture_2d<f32>;
@group(0) @binding(2) var<storage, read_write> staged: array<u32>;

fn srgb_encode(c: vec3<f32>) -> vec3<f32> {
    let low = c * 12.92;
    let high = 1.055 * pow(c, vec3<f32>(1.0 / 2.4)) - vec3<f32>(0.055);
    return select(high, low, c <= vec3<f32>(0.0031308));
}

// The pixel's R, G, B as the CPU sees them: its bytes / 255.
fn rgb_at(x: u32, y: u32) -> vec3<f32> {
    var c = textureLoad(source, vec2<u32>(x, y), 0).rgb;
    if (cv.flags.x == 1u) {
        c = srgb_encode(c);
    }
    return round(c * 255.0) / 255.0;
}

fn luma(rgb: vec3<f32>) -> f32 {
    return dot(vec3<f32>(RGB_TO_YUV_00, RGB_TO_YUV_01, RGB_TO_YUV_02), rgb) + YUV_OFFSET_0;
}

fn chroma(rgb: vec3<f32>) -> vec2<f32> {
    return vec2<f32>(
        dot(vec3<f32>(RGB_TO_YUV_10, RGB_TO_YUV_11, RGB_TO_YUV_12), rgb) + YUV_OFFSET_1,
        dot(vec3<f32>(RGB_TO_YUV_20, RGB_TO_YUV_21, RGB_TO_YUV_22), rgb) + YUV_OFFSET_2,
    );
}

fn to_byte(v: f32) -> u32 {
    return u32(clamp(round(v * 255.0), 0.0, 255.0));
}

@compute @workgroup_size(8, 8)
fn rgb_to_yuv420(@builtin(global_invocation_id) id: vec3<u32>) {
    let width = cv.size.x;
    let height = cv.size.y;
    let y0 = 2u * id.y;
    if (4u * id.x >= width || y0 >= height) {
        return;
    }
    var top = 0u;
    var bottom = 0u;
    var pairs = 0u;
    // Two 2×2 blocks (sides are even: a block is whole or absent).
    for (var i = 0u; i < 2u; i++) {
        let x0 = 4u * id.x + 2u * i;
        if (x0 < width) {
            let p00 = rgb_at(x0, y0);
            let p10 = rgb_at(x0 + 1u, y0);
            let p01 = rgb_at(x0, y0 + 1u);
            let p11 = rgb_at(x0 + 1u, y0 + 1u);
            let shift = 16u * i;
            top |= (to_byte(luma(p00)) | (to_byte(luma(p10)) << 8u)) << shift;
            bottom |= (to_byte(luma(p01)) | (to_byte(luma(p11)) << 8u)) << shift;
            let c = (((chroma(p00) + chroma(p10)) + chroma(p01)) + chroma(p11)) / 4.0;
            pairs |= (to_byte(c.x) | (to_byte(c.y) << 8u)) << shift;
        }
    }
    let stride = cv.size.z;
    staged[y0 * stride + id.x] = top;
    staged[(y0 + 1u) * stride + id.x] = bottom;
    staged[cv.size.w + id.y * stride + id.x] = pairs;
}
