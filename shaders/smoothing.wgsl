// Skin smoothing by frequency separation, run on the packed I420 that the
// geometry pass wrote. The base (4×4 block means) goes through a fast
// guided filter at a quarter of the resolution, with a window scaled to
// each face (every low-res pixel takes the box radius of the face it
// belongs to, from the face field's fourth lane), so its cost does not
// grow with the picture; the fine detail (the picture less its block
// means: pores, grain) comes back at `DETAIL` of itself on flat skin and
// whole at edges. Composed after
// shaders/effects.wgsl (the skin mask). The CPU reference is `smooth` in
// src/pipeline/reference.rs; the module doc of src/pipeline/smoothing.rs
// has the maths.
//
// 1. smooth_stats: mean m of I and of I² over each 4×4 block (low-res grid).
// 2. smooth_coefficients: box means over (2r+1)² low-res pixels (r the
//    pixel's own radius, `radius_of`) give the local mean and variance
//    v; a = v / (v + eps), b = mean (1 - a).
// 3. smooth_mean_coefficients: box means A, B of a and b over the same
//    window; the detail gain g = A + (1 - A) DETAIL and the offset
//    c = B + (A - g) m, so that q = g I + c = B + A m + g (I - m).
// 4. smooth_apply: q = g I + c with g, c bilinear from the low-res grid;
//    I += (q - I) × skin mask × strength. On flat skin (v << eps, A ≈ 0)
//    q = B + DETAIL (I - m): blotches and uneven tone go, fine texture
//    stays; at edges (v >> eps: eyes, brows, lips, the face outline)
//    A ≈ 1 and q ≈ I.
//
// Only the skin mask's bounds are dispatched: the apply pass over the
// words and rows inside them, the low-res passes over the cells they
// read, with margin enough for the two box means (at the largest radius)
// and the bilinear.

struct Smoothing {
    // Low-res grid width, height; output width, height.
    sizes: vec4<u32>,
    // Output words: luma stride, chroma stride, U offset, V offset.
    words: vec4<u32>,
    // x: eps, y: strength; z: the largest box radius (low-res pixels, as
    // a float: the margin of `cells`, and the bound of each pixel's own);
    // w: the share of fine detail kept on flat skin.
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
// I, I²), the coefficients (a, b), and the gain and offset (g, c).
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

// The low-res cell of invocation `id` (xy), and whether it is one of the
// cells to compute (z: 1 or 0).
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

// The box radius of low-res pixel (x, y): the face field's grid point
// (x, y) holds it in its fourth lane (read as is, not interpolated; the
// field's spacing is BLOCK), that of the face the pixel belongs to
// (`radius_at` in src/pipeline/smoothing.rs).
fn radius_of(x: u32, y: u32) -> i32 {
    return i32(min(face_field[y * fx.field.x + x].w, sm.params.z));
}

// Box mean of a low-res field around (x, y) over its own radius, clamped
// at the edges.
fn box_mean(field: u32, x: u32, y: u32) -> vec2<f32> {
    let r = radius_of(x, y);
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
    let ab = box_mean(COEFFS, id.x, id.y);
    let m = fields[at(STATS, id.x, id.y)].x;
    let g = ab.x + (1.0 - ab.x) * sm.params.w;
    fields[at(MEAN_COEFFS, id.x, id.y)] = vec2<f32>(g, ab.y + (ab.x - g) * m);
}

// One invocation per output luma word (4 pixels of a row). The word's
// pixels share their chroma in pairs (one U and one V word hold both
// pairs) and their gains' low-res cells (three columns, two rows),
// so each is loaded once. Per pixel, (g, c) is bilinear between low-res
// pixel centres, clamped at the edges (`coefficients_at` in the reference).
@compute @workgroup_size(8, 8, 1)
fn smooth_apply(@builtin(global_invocation_id) invocation: vec3<u32>) {
    let words_per_row = sm.words.x;
    let id = invocation.xy + sm.region.xy;
    if (id.x >= sm.region.z || id.y >= sm.region.w || id.x >= words_per_row || id.y >= sm.sizes.w) {
        return;
    }
    let word_at = id.y * words_per_row + id.x;
    let word = dst[word_at];
    // Chroma bytes 2·id.x and 2·id.x + 1 of the row: one word of each plane.
    let chroma_byte = sm.words.y * 4u * (id.y / 2u) + id.x * 2u;
    let shift = (chroma_byte & 3u) * 8u;
    let u_pair = dst[sm.words.z + (chroma_byte >> 2u)] >> shift;
    let v_pair = dst[sm.words.w + (chroma_byte >> 2u)] >> shift;
    // The low-res rows and columns around this word, clamped to the grid.
    let max_cell = vec2<f32>(f32(sm.sizes.x - 1u), f32(sm.sizes.y - 1u));
    let py = clamp((f32(id.y) + 0.5) / f32(BLOCK) - 0.5, 0.0, max_cell.y);
    let y0 = u32(floor(py));
    let y1 = min(y0 + 1u, sm.sizes.y - 1u);
    let ty = py - floor(py);
    let first_column = max(i32(id.x) - 1, 0);
    var column: array<vec2<f32>, 3>;
    for (var c = 0; c < 3; c++) {
        let cx = u32(min(first_column + c, i32(sm.sizes.x) - 1));
        column[c] = mix(fields[at(MEAN_COEFFS, cx, y0)], fields[at(MEAN_COEFFS, cx, y1)], ty);
    }
    let cell = face_cell(vec2<f32>(f32(id.x * 4u + 2u), f32(id.y) + 0.5));
    // The two pairs' skin chroma terms.
    let chroma = vec2<f32>(
        skin_chroma(vec2<f32>(f32(u_pair & 0xffu), f32(v_pair & 0xffu)) / 255.0),
        skin_chroma(vec2<f32>(f32((u_pair >> 8u) & 0xffu), f32((v_pair >> 8u) & 0xffu)) / 255.0),
    );
    var out = 0u;
    for (var k = 0u; k < 4u; k++) {
        let x = id.x * 4u + k;
        let original = (word >> (k * 8u)) & 0xffu;
        var value = original;
        let p = vec2<f32>(f32(x) + 0.5, f32(id.y) + 0.5);
        if (x < sm.sizes.z && inside(p, fx.mask_bounds)) {
            let i = f32(original) / 255.0;
            let amount = skin_weight(face_in(cell, p), i, chroma[k / 2u]) * sm.params.y;
            if (amount > 0.0) {
                let px = clamp((f32(x) + 0.5) / f32(BLOCK) - 0.5, 0.0, max_cell.x);
                let x0 = u32(floor(px));
                let x1 = min(x0 + 1u, sm.sizes.x - 1u);
                let left = column[i32(x0) - first_column];
                let right = column[i32(x1) - first_column];
                let gc = mix(left, right, px - floor(px));
                let q = gc.x * i + gc.y;
                value = u32(clamp(round((i + (q - i) * amount) * 255.0), 0.0, 255.0));
            }
        }
        out |= value << (k * 8u);
    }
    dst[word_at] = out;
}
