// The effect plan's maths, shared by the passes that need it (composed in
// front of shaders/geometry.wgsl and shaders/smoothing.wgsl). Every function
// here repeats one in src/effects.rs, which is the specification.

// The effect plan of the frame (src/effects.rs), in output pixels.
struct Effects {
    // z: faces.
    counts: vec4<u32>,
    // x: whitening strength.
    strengths: vec4<f32>,
    // Rectangles (x0, y0, x1, y1) outside which no warp moves anything and
    // the skin mask is zero: most pixels leave early.
    warp_bounds: vec4<f32>,
    mask_bounds: vec4<f32>,
    // The warp field's grid: columns, rows, spacing in output pixels.
    field: vec4<u32>,
    // Four per face: (centre, across), (1 / half axes, 1 / eye radius, 0),
    // (eye 0, eye 1), (mouth, 1 / mouth half axes).
    faces: array<vec4<f32>, 16>,
}
@group(0) @binding(5) var<uniform> fx: Effects;
// Offsets warp(p) - p on a grid `fx.field.z` pixels apart (src/effects.rs).
@group(0) @binding(9) var<storage, read> warp_field: array<vec2<f32>>;

// Whether `p` lies in the rectangle (x0, y0, x1, y1).
fn inside(p: vec2<f32>, rect: vec4<f32>) -> bool {
    return all(p >= rect.xy) && all(p <= rect.zw);
}

// The inverse warp, interpolated from the warp field (WarpField::warp in
// src/effects.rs, sampled from EffectPlan::warp on the CPU): which
// output-space point the output point `p` shows.
fn warp(p: vec2<f32>) -> vec2<f32> {
    if (!inside(p, fx.warp_bounds)) {
        return p;
    }
    let last = vec2<f32>(f32(fx.field.x - 1u), f32(fx.field.y - 1u));
    let g = clamp(p / f32(fx.field.z), vec2<f32>(0.0), last);
    let cell = floor(g);
    let t = g - cell;
    let i0 = u32(cell.x);
    let j0 = u32(cell.y);
    let i1 = min(i0 + 1u, fx.field.x - 1u);
    let j1 = min(j0 + 1u, fx.field.y - 1u);
    let top = mix(warp_field[j0 * fx.field.x + i0], warp_field[j0 * fx.field.x + i1], t.x);
    let bottom = mix(warp_field[j1 * fx.field.x + i0], warp_field[j1 * fx.field.x + i1], t.x);
    return p + mix(top, bottom, t.y);
}

// Soft skin-colour model (skin_colour_weight in src/effects.rs).
fn skin_colour(yuv: vec3<f32>) -> f32 {
    let cb = (yuv.y * 255.0 - 102.0) / 28.0;
    let cr = (yuv.z * 255.0 - 152.0) / 24.0;
    let chroma = 1.0 - smoothstep(0.4, 1.0, sqrt(cb * cb + cr * cr));
    return chroma * smoothstep(30.0, 80.0, yuv.x * 255.0);
}

// Skin weight of output point `p` with colour `yuv` (EffectPlan::skin_weight).
fn skin_weight(p: vec2<f32>, yuv: vec3<f32>) -> f32 {
    if (!inside(p, fx.mask_bounds)) {
        return 0.0;
    }
    let colour = skin_colour(yuv);
    if (colour <= 0.0) {
        return 0.0;
    }
    var best = 0.0;
    for (var f = 0u; f < fx.counts.z; f++) {
        let frame = fx.faces[4u * f];
        let scales = fx.faces[4u * f + 1u];
        let eyes = fx.faces[4u * f + 2u];
        let mouth = fx.faces[4u * f + 3u];
        let across = frame.zw;
        let down = vec2<f32>(-across.y, across.x);
        let rel = p - frame.xy;
        let uv = vec2<f32>(dot(rel, across), dot(rel, down)) * scales.xy;
        let region = 1.0 - smoothstep(0.75, 1.0, length(uv));
        let e0 = length(p - eyes.xy) * scales.z;
        let e1 = length(p - eyes.zw) * scales.z;
        var keep_out = max(1.0 - smoothstep(0.8, 1.2, e0), 1.0 - smoothstep(0.8, 1.2, e1));
        let m = p - mouth.xy;
        let mouth_uv = vec2<f32>(dot(m, across), dot(m, down)) * mouth.zw;
        keep_out = max(keep_out, 1.0 - smoothstep(0.8, 1.2, length(mouth_uv)));
        best = max(best, region * (1.0 - keep_out));
    }
    return best * colour;
}

// Whitening (whiten in src/effects.rs): a monotone curve on luma, chroma a
// little toward grey; `amount` = mask × strength.
fn whiten(yuv: vec3<f32>, amount: f32) -> vec3<f32> {
    let x = clamp((yuv.x * 255.0 - 16.0) / 219.0, 0.0, 1.0);
    let curved = log(1.0 + 3.0 * x) / log(4.0);
    let luma = (16.0 + 219.0 * (x + (curved - x) * amount)) / 255.0;
    let grey = 128.0 / 255.0;
    let keep = 1.0 - 0.08 * amount;
    return vec3<f32>(luma, vec2<f32>(grey) + (yuv.yz - vec2<f32>(grey)) * keep);
}

