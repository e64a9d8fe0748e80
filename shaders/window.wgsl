// The window presenter (src/window/presenter.rs): an I420 frame's three
// planes, sampled bilinearly, converted to RGB and drawn into the
// viewport the fit chose (a full-viewport triangle).

struct Params {
    // Texture coordinates of the viewport's top-left corner (xy) and
    // their span across it (zw).
    uv: vec4<f32>,
    // x: 1 when the target stores sRGB-encoded colour (the values are
    // linearised so the display shows the video's codes).
    flags: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var plane_y: texture_2d<f32>;
@group(0) @binding(2) var plane_u: texture_2d<f32>;
@group(0) @binding(3) var plane_v: texture_2d<f32>;
@group(0) @binding(4) var bilinear: sampler;

// The colour matrix (src/color.rs) and yuv_to_rgb: shaders/yuv_to_rgb.wgsl,
// prepended.

struct VertexOut {
    @builtin(position) position: vec4<f32>,
    @location(0) uv: vec2<f32>,
}

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> VertexOut {
    // (0, 0), (2, 0), (0, 2): one triangle covering the viewport.
    let corner = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    var out: VertexOut;
    out.position = vec4<f32>(corner.x * 2.0 - 1.0, 1.0 - corner.y * 2.0, 0.0, 1.0);
    out.uv = params.uv.xy + corner * params.uv.zw;
    return out;
}

fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let yuv = vec3<f32>(
        textureSample(plane_y, bilinear, in.uv).r,
        textureSample(plane_u, bilinear, in.uv).r,
        textureSample(plane_v, bilinear, in.uv).r,
    );
    var rgb = yuv_to_rgb(yuv);
    if params.flags.x > 0.5 {
        rgb = srgb_to_linear(rgb);
    }
    return vec4<f32>(rgb, 1.0);
}
