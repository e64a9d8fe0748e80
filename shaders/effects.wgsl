// The effect plan's maths, shared by the passes that need it (composed in
// front of shaders/geometry.wgsl and shaders/smoothing.wgsl). Every function
// here repeats one in src/effects/, which is the specification.

// The effect plan of the frame (src/effects/mod.rs), in output pixels.
struct Effects {
    // x: whitening strength, y: smoothing strength, z: ruddiness strength.
    strengths: vec4<f32>,
    // Rectangles (x0, y0, x1, y1) outside which no warp moves anything and
    // the skin mask is zero: most pixels leave early.
    warp_bounds: vec4<f32>,
    mask_bounds: vec4<f32>,
    // The face field's grid: columns, rows, spacing in output pixels.
    field: vec4<u32>,
}
@group(0) @binding(5) var<uniform> fx: Effects;
// The face field (FaceField in src/effects/face_field.rs), one point per
// grid point `fx.field.z` pixels apart, row by row: (warp(p) - p, skin
// region weight, 0), values at half precision; interpolated in the shader
// (see `face_cell`).
@group(0) @binding(9) var<storage, read> face_field: array<vec4<f32>>;

// Whether `p` lies in the rectangle (x0, y0, x1, y1).
fn inside(p: vec2<f32>, rect: vec4<f32>) -> bool {
    return all(p >= rect.xy) && all(p <= rect.zw);
}

// Four points of the face field around one cell of its grid, and the grid
// position of the first. The pixels of a 2×2 output block, or of a luma
// word, all lie in one cell of the 4-pixel grid, so the passes load the
// cell once (plain buffer loads, which a software driver does far faster
// than filtered samples) and interpolate per pixel.
struct FaceCell {
    corner: vec2<f32>,
    c00: vec3<f32>,
    c10: vec3<f32>,
    c01: vec3<f32>,
    c11: vec3<f32>,
}

// The face field's grid position of output point `p`, clamped to the grid
// (the edge points extend outward, as a clamp-to-edge sampler would).
fn face_grid(p: vec2<f32>) -> vec2<f32> {
    let last = vec2<f32>(f32(fx.field.x - 1u), f32(fx.field.y - 1u));
    return clamp(p / f32(fx.field.z), vec2<f32>(0.0), last);
}

// The face field's grid point (i, j).
fn face_point(at: vec2<i32>) -> vec3<f32> {
    return face_field[u32(at.y) * fx.field.x + u32(at.x)].xyz;
}

// The cell holding `centre` (a block's or a word's centre).
fn face_cell(centre: vec2<f32>) -> FaceCell {
    let last = vec2<i32>(i32(fx.field.x) - 1, i32(fx.field.y) - 1);
    let first = min(vec2<i32>(floor(face_grid(centre))), max(last - vec2<i32>(1), vec2<i32>(0)));
    let next = min(first + vec2<i32>(1), last);
    var cell: FaceCell;
    cell.corner = vec2<f32>(first);
    cell.c00 = face_point(first);
    cell.c10 = face_point(vec2<i32>(next.x, first.y));
    cell.c01 = face_point(vec2<i32>(first.x, next.y));
    cell.c11 = face_point(next);
    return cell;
}

// The face field at output point `p` in `cell`, bilinear (FaceField::at):
// xy the warp offset, z the skin region weight. Zero outside both bounds.
fn face_in(cell: FaceCell, p: vec2<f32>) -> vec3<f32> {
    if (!inside(p, fx.warp_bounds) && !inside(p, fx.mask_bounds)) {
        return vec3<f32>(0.0);
    }
    let t = clamp(face_grid(p) - cell.corner, vec2<f32>(0.0), vec2<f32>(1.0));
    return mix(mix(cell.c00, cell.c10, t.x), mix(cell.c01, cell.c11, t.x), t.y);
}

// Soft skin-colour model (skin_colour_weight in src/effects/skin.rs), a
// product of a chroma term and a luma term: pixels that share their chroma
// (a 2×2 block, a pair in a luma word) compute the chroma term once.
fn skin_chroma(uv: vec2<f32>) -> f32 {
    let cb = (uv.x * 255.0 - 102.0) / 28.0;
    let cr = (uv.y * 255.0 - 152.0) / 24.0;
    return 1.0 - smoothstep(0.4, 1.0, sqrt(cb * cb + cr * cr));
}

fn skin_luma(y: f32) -> f32 {
    return smoothstep(30.0, 80.0, y * 255.0);
}

// Skin weight of a pixel: its face field's region weight (`face.z`) times
// how skin-like its colour is (FaceField::skin_weight), with its chroma
// term given.
fn skin_weight(face: vec3<f32>, y: f32, chroma: f32) -> f32 {
    if (face.z <= 0.0) {
        return 0.0;
    }
    return face.z * chroma * skin_luma(y);
}

// Whitening (whiten and whiten_lift in src/effects/skin.rs): a monotone curve
// on luma, the chroma offsets from grey grown with it so that the hue stays
// and most of the saturation does; `amount` = mask × strength.
fn whiten(yuv: vec3<f32>, amount: f32) -> vec3<f32> {
    let x = clamp((yuv.x * 255.0 - 16.0) / 219.0, 0.0, 1.0);
    // The curve x (1 + k) / (1 + k x), k = WHITEN_LIFT, as its relative
    // lift k (1 - x) / (1 + k x); the chroma gets WHITEN_CHROMA of it.
    let lift = 0.95;
    let follow = 0.75;
    let relative = lift * (1.0 - x) / (1.0 + lift * x);
    let luma = (16.0 + 219.0 * x) / 255.0 + 219.0 * x * relative * amount / 255.0;
    let grey = vec2<f32>(128.0 / 255.0);
    let gain = 1.0 + follow * relative * amount;
    return vec3<f32>(luma, grey + (yuv.yz - grey) * gain);
}

// Ruddiness's share at luma `y` (ruddy_depth in src/effects/skin.rs): the
// whole shift from RUDDY_FULL_AT = 0.6 of video-range luma up, less on
// darker pixels in proportion to their brightness.
fn ruddy_depth(y: f32) -> f32 {
    return clamp((y * 255.0 - 16.0) / (219.0 * 0.6), 0.0, 1.0);
}

// Ruddiness (redden in src/effects/skin.rs): luma kept, chroma moved by
// RUDDY_SHIFT (Cb, Cr) levels × `amount` = mask × strength × ruddy_depth
// of the luma before any tone change.
fn redden(yuv: vec3<f32>, amount: f32) -> vec3<f32> {
    let shift = vec2<f32>(2.0, 8.0) / 255.0;
    return vec3<f32>(yuv.x, yuv.yz + shift * amount);
}

