// The pipeline's packed I420 output drawn into a caller's textures, with no
// readback: RGBA (for display, Rgba8/Bgra8, sRGB or not), or the planes an
// encoder takes (Y, U, V as R8, or NV12's U, V pairs as RG8). A full-screen
// triangle per target; each fragment reads its samples from the packed
// words (the layout of src/pipeline/uniforms.rs `OutputLayout`).
//
// RGB is src/color.rs's `i420_to_rgb_image`: the block's chroma repeated
// over its 2×2 pixels, BT.601 video range, clamped to 0..1.

struct Target {
    // Luma row stride, chroma row stride, U offset, V offset; in bytes.
    strides_offsets: vec4<u32>,
    // x: 1 when the target is sRGB (its writes take linear light; the
    // values are decoded first, so the stored bytes are R'G'B').
    flags: vec4<u32>,
}

// The colour matrix (src/color.rs) and yuv_to_rgb: shaders/yuv_to_rgb.wgsl,
// prepended.

@group(0) @binding(0) var<uniform> tg: Target;
@group(0) @binding(1) var<storage, read> packed: array<u32>;

@vertex
fn full_screen(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let corner = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    return vec4<f32>(corner * 2.0 - vec2<f32>(1.0), 0.0, 1.0);
}

// The byte at `offset` of the packed output, as 0..1.
fn byte_at(offset: u32) -> f32 {
    let word = packed[offset / 4u];
    return f32((word >> (8u * (offset % 4u))) & 255u) / 255.0;
}

fn luma_at(p: vec2<u32>) -> f32 {
    return byte_at(p.y * tg.strides_offsets.x + p.x);
}

// U and V of the chroma sample at `c`.
fn chroma_at(c: vec2<u32>) -> vec2<f32> {
    let at = c.y * tg.strides_offsets.y + c.x;
    return vec2<f32>(byte_at(tg.strides_offsets.z + at), byte_at(tg.strides_offsets.w + at));
}

fn srgb_decode(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn to_rgba(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let p = vec2<u32>(position.xy);
    let yuv = vec3<f32>(luma_at(p), chroma_at(p / 2u));
    var rgb = yuv_to_rgb(yuv);
    if (tg.flags.x == 1u) {
        rgb = srgb_decode(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}

@fragment
fn to_y(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return vec4<f32>(luma_at(vec2<u32>(position.xy)), 0.0, 0.0, 1.0);
}

@fragment
fn to_u(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return vec4<f32>(chroma_at(vec2<u32>(position.xy)).x, 0.0, 0.0, 1.0);
}

@fragment
fn to_v(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return vec4<f32>(chroma_at(vec2<u32>(position.xy)).y, 0.0, 0.0, 1.0);
}

@fragment
fn to_uv(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    return vec4<f32>(chroma_at(vec2<u32>(position.xy)), 0.0, 1.0);
}
