// Skin smoothing: a fast guided filter on luma, run on the packed I420 that
// the geometry pass wrote, at a quarter of the resolution, so its cost does
// not grow with its radius. Composed after shaders/effects.wgsl (the skin
// mask). The CPU reference is `smooth` in src/pipeline/reference.rs.
//
// 1. smooth_stats: mean of I and I² over each 4×4 block (low-res grid).
// 2. smooth_coefficients: box means over (2r+1)² low-res pixels give the
//    local mean m and variance v; a = v / (v + eps), b = m (1 - a).
// 3. smooth_mean_coefficients: box means of a and b over the same window.
// 4. smooth_apply: q = a I + b with a, b bilinear from the low-res grid;
//    I += (q - I) × skin mask × strength. Flat skin (v << eps) is smoothed,
//    edges (v >> eps: eyes, brows, lips, the face outline) are kept.
//
// Only the skin mask's bounds are dispatched: the apply pass over the
// words and rows inside them, the low-res passes over the cells they
// read, with margin enough for the two box means and the bilinear.

struct Smoothing {
    // Low-res grid width, height; output width, height.
    sizes: vec4<u32>,
    // Output words: luma stride, chroma stride, U offset, V offset.
    words: vec4<u32>,
    // x: eps, y: strength; z: box radius (low-res pixels, as a float).
    params: vec4<f32>,
    // The apply pass's luma words and rows: first word, first row, end
    // word, end row (exclusive).
    region: vec4<u32>,
    // The low-res passes' cells: first column, first row, ends (exclusive).
    cells: vec4<u32>,
}

@group(0) @binding(0) var<uniform> sm: Smoothing;
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;
// Three low-res fields one after another: the block statistics (mean of
// I, I²), the coefficients (a, b), and their box means.
@group(0) @binding(6) var<storage, read_write> fields: array<vec2<f32>>;
const STATS: u32 = 0u;
const COEFFS: u32 = 1u;
const MEAN_COEFFS: u32 = 2u;

// Index of low-res pixel (x, y) of a field.
fn at(field: u32, x: u32, y: u32) -> u32 {
    return (field * sm.sizes.y + y) * sm.sizes.x + x;
}

// Output pixels per side of a low-res pixel: one packed luma word across.
const BLOCK: u32 = 4u;

// One byte of the packed output, 0..1.
fn byte_at(offset_bytes: u32) -> f32 {
    let word = dst[offset_bytes >> 2u];
    return f32((word >> ((offset_bytes & 3u) * 8u)) & 0xffu) / 255.0;
}

// The low-res cell of invocation `id`, or false past the cells to compute.
fn cell_of(id: vec3<u32>) -> vec3<u32> {
    let cell = id.xy + sm.cells.xy;
    let valid = cell.x < sm.cells.z && cell.y < sm.cells.w;
    return vec3<u32>(cell, u32(valid));
}

@compute @workgroup_size(8, 8, 1)
fn smooth_stats(@builtin(global_invocation_id) invocation: vec3<u32>) {
    let c = cell_of(invocation);
    if (c.z == 0u) {
        return;
    }
    let id = c.xy;
    // A block row is one output word (BLOCK = 4 pixels; padding columns
    // repeat the last pixel, as the clamped reference reads them).
    var sum = vec2<f32>(0.0);
    for (var j = 0u; j < BLOCK; j++) {
        let y = min(id.y * BLOCK + j, sm.sizes.w - 1u);
        let word = dst[y * sm.words.x + id.x];
        for (var i = 0u; i < BLOCK; i++) {
            let v = f32((word >> (i * 8u)) & 0xffu) / 255.0;
            sum += vec2<f32>(v, v * v);
        }
    }
    fields[at(STATS, id.x, id.y)] = sum / f32(BLOCK * BLOCK);
}

// Box mean of a low-res field around (x, y), clamped at the edges.
fn box_mean(field: u32, x: u32, y: u32) -> vec2<f32> {
    let r = i32(sm.params.z);
    var sum = vec2<f32>(0.0);
    for (var dy = -r; dy <= r; dy++) {
        for (var dx = -r; dx <= r; dx++) {
            let cx = u32(clamp(i32(x) + dx, 0, i32(sm.sizes.x) - 1));
            let cy = u32(clamp(i32(y) + dy, 0, i32(sm.sizes.y) - 1));
            sum += fields[at(field, cx, cy)];
        }
    }
    let n = f32((2 * r + 1) * (2 * r + 1));
    return sum / n;
}

@compute @workgroup_size(8, 8, 1)
fn smooth_coefficients(@builtin(global_invocation_id) invocation: vec3<u32>) {
    let c = cell_of(invocation);
    if (c.z == 0u) {
        return;
    }
    let id = c.xy;
    let m = box_mean(STATS, id.x, id.y);
    let variance = max(m.y - m.x * m.x, 0.0);
    let a = variance / (variance + sm.params.x);
    fields[at(COEFFS, id.x, id.y)] = vec2<f32>(a, m.x * (1.0 - a));
}

@compute @workgroup_size(8, 8, 1)
fn smooth_mean_coefficients(@builtin(global_invocation_id) invocation: vec3<u32>) {
    let c = cell_of(invocation);
    if (c.z == 0u) {
        return;
    }
    let id = c.xy;
    fields[at(MEAN_COEFFS, id.x, id.y)] = box_mean(COEFFS, id.x, id.y);
}

// (a, b) at output pixel (x, y): bilinear between low-res pixel centres.
fn coefficients_at(x: u32, y: u32) -> vec2<f32> {
    let pos = clamp(
        (vec2<f32>(f32(x), f32(y)) + vec2<f32>(0.5)) / f32(BLOCK) - vec2<f32>(0.5),
        vec2<f32>(0.0),
        vec2<f32>(f32(sm.sizes.x - 1u), f32(sm.sizes.y - 1u)),
    );
    let cell = floor(pos);
    let t = pos - cell;
    let x0 = u32(cell.x);
    let y0 = u32(cell.y);
    let x1 = min(x0 + 1u, sm.sizes.x - 1u);
    let y1 = min(y0 + 1u, sm.sizes.y - 1u);
    let top = mix(fields[at(MEAN_COEFFS, x0, y0)], fields[at(MEAN_COEFFS, x1, y0)], t.x);
    let bottom = mix(fields[at(MEAN_COEFFS, x0, y1)], fields[at(MEAN_COEFFS, x1, y1)], t.x);
    return mix(top, bottom, t.y);
}

// One invocation per output luma word (4 pixels of a row).
@compute @workgroup_size(8, 8, 1)
fn smooth_apply(@builtin(global_invocation_id) invocation: vec3<u32>) {
    let words_per_row = sm.words.x;
    let id = invocation.xy + sm.region.xy;
    if (id.x >= sm.region.z || id.y >= sm.region.w || id.x >= words_per_row || id.y >= sm.sizes.w) {
        return;
    }
    let at = id.y * words_per_row + id.x;
    let word = dst[at];
    var out = 0u;
    for (var k = 0u; k < 4u; k++) {
        let x = id.x * 4u + k;
        let original = (word >> (k * 8u)) & 0xffu;
        var value = original;
        let p = vec2<f32>(f32(x) + 0.5, f32(id.y) + 0.5);
        if (x < sm.sizes.z && inside(p, fx.mask_bounds)) {
            let i = f32(original) / 255.0;
            let chroma_at = sm.words.y * 4u * (id.y / 2u) + x / 2u;
            let yuv = vec3<f32>(
                i,
                byte_at(sm.words.z * 4u + chroma_at),
                byte_at(sm.words.w * 4u + chroma_at),
            );
            let amount = skin_weight(face_at(p), yuv) * sm.params.y;
            if (amount > 0.0) {
                let ab = coefficients_at(x, id.y);
                let q = ab.x * i + ab.y;
                value = u32(clamp(round((i + (q - i) * amount) * 255.0), 0.0, 255.0));
            }
        }
        out |= value << (k * 8u);
    }
    dst[at] = out;
}
