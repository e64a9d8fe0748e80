// Background blur and replace on packed I420, weighed by the person mask.
// The specification and CPU reference is src/effects/background.rs; this
// repeats its maths step for step, one plane per z of each dispatch.
//
// 1. bg_down: each cell's b·mean(v) and b, b = 1 − mask at the cell's
//    centre (1 for a replacement picture), into field 0.
// 2. bg_blur_x, bg_blur_y: a separable Gaussian over the cells, field 0 →
//    field 1 → field 0, clamped at the border.
// 3. bg_apply: per packed word, each pixel's background is the ratio of the
//    two sums read bilinearly (or the replacement picture itself when there
//    is no blur), mixed with the pixel by the mask.

struct Background {
    // Frame width, height; words per luma row, per chroma row.
    frame: vec4<u32>,
    // Word offsets of the U and V planes; mask width, height.
    offsets: vec4<u32>,
    // Luma cell side; kernel taps each side; 1 to use the replacement
    // picture; 1 to blur.
    level: vec4<u32>,
    // Cells across and down for luma, then for chroma.
    grid: vec4<u32>,
    // Cells of field 0 before plane 1's, before plane 2's; cells in a field.
    fields: vec4<u32>,
    // The kernel's weights from the centre out.
    weights: array<vec4<f32>, 4>,
}

@group(0) @binding(0) var<uniform> bg: Background;
@group(0) @binding(1) var<storage, read_write> frame: array<u32>;
@group(0) @binding(2) var<storage, read> picture: array<u32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> cells: array<vec2<f32>>;

const EPSILON: f32 = 1e-3;

fn plane_size(p: u32) -> vec2<u32> {
    if (p == 0u) {
        return bg.frame.xy;
    }
    return (bg.frame.xy + 1u) / 2u;
}

fn plane_words(p: u32) -> u32 {
    return select(bg.frame.w, bg.frame.z, p == 0u);
}

fn plane_base(p: u32) -> u32 {
    if (p == 0u) {
        return 0u;
    }
    return select(bg.offsets.y, bg.offsets.x, p == 1u);
}

fn plane_cell(p: u32) -> u32 {
    return select(bg.level.x / 2u, bg.level.x, p == 0u);
}

fn plane_grid(p: u32) -> vec2<u32> {
    return select(bg.grid.zw, bg.grid.xy, p == 0u);
}

fn field_base(p: u32) -> u32 {
    if (p == 0u) {
        return 0u;
    }
    return select(bg.fields.y, bg.fields.x, p == 1u);
}

fn byte_of(word: u32, i: u32) -> f32 {
    return f32((word >> (8u * i)) & 255u);
}

fn frame_at(p: u32, x: u32, y: u32) -> f32 {
    let word = frame[plane_base(p) + y * plane_words(p) + x / 4u];
    return byte_of(word, x % 4u);
}

fn picture_at(p: u32, x: u32, y: u32) -> f32 {
    let word = picture[plane_base(p) + y * plane_words(p) + x / 4u];
    return byte_of(word, x % 4u);
}

// The mask at plane pixel (x, y)'s centre.
fn mask_at(p: u32, x: u32, y: u32) -> f32 {
    let size = vec2<f32>(plane_size(p));
    return mask_uv((vec2<f32>(f32(x), f32(y)) + 0.5) / size);
}

// The mask at a point given as fractions of the frame, bilinear between
// mask pixel centres, clamped (PersonMask::at).
fn mask_uv(uv: vec2<f32>) -> f32 {
    let dims = bg.offsets.zw;
    let last = vec2<f32>(dims - 1u);
    let f = clamp(uv * vec2<f32>(dims) - 0.5, vec2<f32>(0.0), last);
    let i0 = vec2<u32>(f);
    let i1 = min(i0 + 1u, dims - 1u);
    let t = f - vec2<f32>(i0);
    let m00 = mask[i0.y * dims.x + i0.x];
    let m10 = mask[i0.y * dims.x + i1.x];
    let m01 = mask[i1.y * dims.x + i0.x];
    let m11 = mask[i1.y * dims.x + i1.x];
    let top = m00 + (m10 - m00) * t.x;
    let bottom = m01 + (m11 - m01) * t.x;
    return top + (bottom - top) * t.y;
}

fn weight(i: u32) -> f32 {
    return bg.weights[i / 4u][i % 4u];
}

@compute @workgroup_size(8, 8, 1)
fn bg_down(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.z;
    let grid = plane_grid(p);
    if (id.x >= grid.x || id.y >= grid.y) {
        return;
    }
    let size = plane_size(p);
    let cell = plane_cell(p);
    let end = min((id.xy + 1u) * cell, size);
    var total = 0u;
    var count = 0u;
    for (var y = id.y * cell; y < end.y; y++) {
        for (var x = id.x * cell; x < end.x; x++) {
            if (bg.level.z == 1u) {
                total += u32(picture_at(p, x, y));
            } else {
                total += u32(frame_at(p, x, y));
            }
            count += 1u;
        }
    }
    var b = 1.0;
    if (bg.level.z == 0u) {
        b = 1.0 - mask_uv((vec2<f32>(id.xy) + 0.5) * f32(cell) / vec2<f32>(size));
    }
    cells[field_base(p) + id.y * grid.x + id.x] = vec2<f32>(b * (f32(total) / f32(count)), b);
}

fn blur(id: vec3<u32>, along: vec2<i32>, source_field: u32, target_field: u32) {
    let p = id.z;
    let grid = plane_grid(p);
    if (id.x >= grid.x || id.y >= grid.y) {
        return;
    }
    let base = field_base(p);
    let taps = i32(bg.level.y);
    let last = vec2<i32>(grid) - 1;
    var sum = vec2<f32>(0.0);
    for (var i = -taps; i <= taps; i++) {
        let cell = clamp(vec2<i32>(id.xy) + along * i, vec2<i32>(0), last);
        let k = weight(u32(abs(i)));
        sum += k * cells[source_field + base + u32(cell.y) * grid.x + u32(cell.x)];
    }
    cells[target_field + base + id.y * grid.x + id.x] = sum;
}

@compute @workgroup_size(8, 8, 1)
fn bg_blur_x(@builtin(global_invocation_id) id: vec3<u32>) {
    blur(id, vec2<i32>(1, 0), 0u, bg.fields.z);
}

@compute @workgroup_size(8, 8, 1)
fn bg_blur_y(@builtin(global_invocation_id) id: vec3<u32>) {
    blur(id, vec2<i32>(0, 1), bg.fields.z, 0u);
}

// Both sums at plane pixel (x, y), bilinear between cell centres.
fn sums_at(p: u32, x: u32, y: u32) -> vec2<f32> {
    let grid = plane_grid(p);
    let cell = f32(plane_cell(p));
    let last = vec2<f32>(grid - 1u);
    let f = clamp((vec2<f32>(f32(x), f32(y)) + 0.5) / cell - 0.5, vec2<f32>(0.0), last);
    let i0 = vec2<u32>(f);
    let i1 = min(i0 + 1u, grid - 1u);
    let t = f - vec2<f32>(i0);
    let base = field_base(p);
    let s00 = cells[base + i0.y * grid.x + i0.x];
    let s10 = cells[base + i0.y * grid.x + i1.x];
    let s01 = cells[base + i1.y * grid.x + i0.x];
    let s11 = cells[base + i1.y * grid.x + i1.x];
    let top = s00 + (s10 - s00) * t.x;
    let bottom = s01 + (s11 - s01) * t.x;
    return top + (bottom - top) * t.y;
}

@compute @workgroup_size(8, 8, 1)
fn bg_apply(@builtin(global_invocation_id) id: vec3<u32>) {
    let p = id.z;
    let size = plane_size(p);
    let words = (size.x + 3u) / 4u;
    if (id.x >= words || id.y >= size.y) {
        return;
    }
    let index = plane_base(p) + id.y * plane_words(p) + id.x;
    let word = frame[index];
    var packed = 0u;
    for (var i = 0u; i < 4u; i++) {
        let x = id.x * 4u + i;
        let v = byte_of(word, i);
        var out = v;
        if (x < size.x) {
            let m = mask_at(p, x, id.y);
            var back: f32;
            if (bg.level.w == 1u) {
                let s = sums_at(p, x, id.y);
                back = (s.x + EPSILON * v) / (s.y + EPSILON);
            } else {
                back = picture_at(p, x, id.y);
            }
            out = clamp(floor(m * v + (1.0 - m) * back + 0.5), 0.0, 255.0);
        }
        packed |= u32(out) << (8u * i);
    }
    frame[index] = packed;
}
