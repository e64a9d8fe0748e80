// The finishing effects, after the geometry and smoothing passes, on the
// packed I420 they wrote: sharpness (an unsharp mask on luma around the
// faces, skin left alone) and the colour filter (a 64³ look-up table on
// every pixel's RGB). Composed after shaders/effects.wgsl (the face field
// and the skin-colour model). The CPU reference is src/pipeline/finish.rs;
// change both together.
//
// One invocation per 8×2 block of output pixels (4 luma words, one word
// each of U and V), reading the frame as it was before this pass (`src`,
// a copy) and writing `dst`, so no two invocations touch the same word.

struct Finish {
    // Output: width, height, luma stride in words, chroma stride in words.
    frame: vec4<u32>,
    // Output: U offset in words, V offset in words.
    offsets: vec4<u32>,
    // The blocks dispatched: first column and row of 8×2 blocks, and the
    // end (exclusive).
    region: vec4<u32>,
    // The sharpened rectangle (x0, y0, x1, y1), output pixels.
    sharpen_bounds: vec4<f32>,
    // x: sharpness × SHARPEN_GAIN, y: filter strength.
    amounts: vec4<f32>,
}

@group(0) @binding(0) var<uniform> fin: Finish;
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;
@group(0) @binding(6) var<storage, read> src: array<u32>;
// The look-up table: entry (r, g, b) at (b × 64 + g) × 64 + r, packed
// r | g << 8 | b << 16 (Lut::packed).
@group(0) @binding(7) var<storage, read> lut: array<u32>;

override SHARPEN: bool = false;
override FILTER: bool = false;

// The colour matrices (src/color.rs), as in shaders/geometry.wgsl.
override YUV_TO_RGB_00: f32; override YUV_TO_RGB_01: f32; override YUV_TO_RGB_02: f32;
override YUV_TO_RGB_10: f32; override YUV_TO_RGB_11: f32; override YUV_TO_RGB_12: f32;
override YUV_TO_RGB_20: f32; override YUV_TO_RGB_21: f32; override YUV_TO_RGB_22: f32;
override RGB_TO_YUV_00: f32; override RGB_TO_YUV_01: f32; override RGB_TO_YUV_02: f32;
override RGB_TO_YUV_10: f32; override RGB_TO_YUV_11: f32; override RGB_TO_YUV_12: f32;
override RGB_TO_YUV_20: f32; override RGB_TO_YUV_21: f32; override RGB_TO_YUV_22: f32;
override YUV_OFFSET_0: f32; override YUV_OFFSET_1: f32; override YUV_OFFSET_2: f32;

fn yuv_to_rgb(yuv: vec3<f32>) -> vec3<f32> {
    let d = yuv - vec3<f32>(YUV_OFFSET_0, YUV_OFFSET_1, YUV_OFFSET_2);
    return vec3<f32>(
        dot(vec3<f32>(YUV_TO_RGB_00, YUV_TO_RGB_01, YUV_TO_RGB_02), d),
        dot(vec3<f32>(YUV_TO_RGB_10, YUV_TO_RGB_11, YUV_TO_RGB_12), d),
        dot(vec3<f32>(YUV_TO_RGB_20, YUV_TO_RGB_21, YUV_TO_RGB_22), d),
    );
}

fn rgb_to_yuv(rgb: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(
        dot(vec3<f32>(RGB_TO_YUV_00, RGB_TO_YUV_01, RGB_TO_YUV_02), rgb),
        dot(vec3<f32>(RGB_TO_YUV_10, RGB_TO_YUV_11, RGB_TO_YUV_12), rgb),
        dot(vec3<f32>(RGB_TO_YUV_20, RGB_TO_YUV_21, RGB_TO_YUV_22), rgb),
    ) + vec3<f32>(YUV_OFFSET_0, YUV_OFFSET_1, YUV_OFFSET_2);
}

// Luma byte (x, y) of the frame before this pass, clamped to the picture.
fn luma_at(x: i32, y: i32) -> f32 {
    let cx = u32(clamp(x, 0, i32(fin.frame.x) - 1));
    let cy = u32(clamp(y, 0, i32(fin.frame.y) - 1));
    let word = src[cy * fin.frame.z + cx / 4u];
    return f32((word >> ((cx % 4u) * 8u)) & 0xffu);
}

// The faces' vicinity (vicinity_weight in src/effects/sharpen.rs).
fn vicinity(p: vec2<f32>) -> f32 {
    let b = fin.sharpen_bounds;
    let fade = 0.1 * min(b.z - b.x, b.w - b.y);
    let near = smoothstep(vec2<f32>(0.0), vec2<f32>(fade), p - b.xy)
        * smoothstep(vec2<f32>(0.0), vec2<f32>(fade), b.zw - p);
    return near.x * near.y;
}

// The unsharp mask of pixel (x, y) with its block's chroma `uv` and the
// face field's cell `cell` (sharpen in src/pipeline/finish.rs): the new
// luma byte.
fn sharpened(x: u32, y: u32, uv: vec2<f32>, cell: FaceCell) -> f32 {
    let centre = luma_at(i32(x), i32(y));
    let p = vec2<f32>(f32(x) + 0.5, f32(y) + 0.5);
    let near = vicinity(p);
    if (near <= 0.0) {
        return centre;
    }
    let i = centre / 255.0;
    let region = face_in(cell, p).z;
    let open = 1.0 - region * skin_chroma(uv) * skin_luma(i);
    let amount = near * open * open * fin.amounts.x;
    if (amount <= 0.0) {
        return centre;
    }
    let xi = i32(x);
    let yi = i32(y);
    var rows = vec3<f32>(0.0);
    for (var j = -1; j <= 1; j++) {
        rows[j + 1] = luma_at(xi - 1, yi + j) + 2.0 * luma_at(xi, yi + j) + luma_at(xi + 1, yi + j);
    }
    let blur = (rows.x + 2.0 * rows.y + rows.z) / (16.0 * 255.0);
    return clamp(round((i + (i - blur) * amount) * 255.0), 0.0, 255.0);
}

fn entry(r: u32, g: u32, b: u32) -> vec3<f32> {
    return unpack4x8unorm(lut[(b * 64u + g) * 64u + r]).xyz;
}

// The table's colour for `rgb` in 0..1, trilinear (Lut::apply).
fn look_up(rgb: vec3<f32>) -> vec3<f32> {
    let p = rgb * 63.0;
    let c = min(floor(p), vec3<f32>(62.0));
    let t = p - c;
    let i = vec3<u32>(c);
    let g0 = mix(
        mix(entry(i.x, i.y, i.z), entry(i.x + 1u, i.y, i.z), t.x),
        mix(entry(i.x, i.y + 1u, i.z), entry(i.x + 1u, i.y + 1u, i.z), t.x),
        t.y,
    );
    let g1 = mix(
        mix(entry(i.x, i.y, i.z + 1u), entry(i.x + 1u, i.y, i.z + 1u), t.x),
        mix(entry(i.x, i.y + 1u, i.z + 1u), entry(i.x + 1u, i.y + 1u, i.z + 1u), t.x),
        t.y,
    );
    return mix(g0, g1, t.z);
}

// One pixel through the colour filter (filtered in src/pipeline/finish.rs).
fn filtered(yuv: vec3<f32>) -> vec3<f32> {
    let rgb = yuv_to_rgb(yuv);
    let clamped = clamp(rgb, vec3<f32>(0.0), vec3<f32>(1.0));
    return rgb_to_yuv(rgb + (look_up(clamped) - clamped) * fin.amounts.y);
}

fn to_byte(v: f32) -> u32 {
    return u32(clamp(round(v * 255.0), 0.0, 255.0));
}

@compute @workgroup_size(8, 8, 1)
fn finish(@builtin(global_invocation_id) invocation: vec3<u32>) {
    let id = invocation.xy + fin.region.xy;
    if (id.x >= fin.region.z || id.y >= fin.region.w) {
        return;
    }
    let width = fin.frame.x;
    let y0 = id.y * 2u;
    let chroma_at = id.y * fin.frame.w + id.x;
    let u_word = src[fin.offsets.x + chroma_at];
    let v_word = src[fin.offsets.y + chroma_at];
    // Luma bytes, row by row, 8 a row.
    var luma: array<f32, 16>;
    for (var r = 0u; r < 2u; r++) {
        for (var w = 0u; w < 2u; w++) {
            let word = src[(y0 + r) * fin.frame.z + id.x * 2u + w];
            for (var k = 0u; k < 4u; k++) {
                luma[r * 8u + w * 4u + k] = f32((word >> (k * 8u)) & 0xffu);
            }
        }
    }
    if (SHARPEN) {
        for (var w = 0u; w < 2u; w++) {
            let word_x = id.x * 8u + w * 4u;
            let cell = face_cell(vec2<f32>(f32(word_x + 2u), f32(y0) + 1.0));
            for (var k = 0u; k < 4u; k++) {
                let x = word_x + k;
                if (x >= width) {
                    continue;
                }
                let shift = ((w * 4u + k) / 2u) * 8u;
                let uv = vec2<f32>(f32((u_word >> shift) & 0xffu), f32((v_word >> shift) & 0xffu)) / 255.0;
                for (var r = 0u; r < 2u; r++) {
                    luma[r * 8u + w * 4u + k] = sharpened(x, y0 + r, uv, cell);
                }
            }
        }
    }
    var u_out = u_word;
    var v_out = v_word;
    if (FILTER) {
        u_out = 0u;
        v_out = 0u;
        for (var b = 0u; b < 4u; b++) {
            let shift = b * 8u;
            let uv = vec2<f32>(f32((u_word >> shift) & 0xffu), f32((v_word >> shift) & 0xffu)) / 255.0;
            var delta = vec2<f32>(0.0);
            var count = 0.0;
            for (var r = 0u; r < 2u; r++) {
                for (var k = 0u; k < 2u; k++) {
                    let at = r * 8u + b * 2u + k;
                    if (id.x * 8u + b * 2u + k >= width) {
                        continue;
                    }
                    let out = filtered(vec3<f32>(luma[at] / 255.0, uv));
                    luma[at] = f32(to_byte(out.x));
                    delta += out.yz - uv;
                    count += 1.0;
                }
            }
            var bytes = vec2<u32>((u_word >> shift) & 0xffu, (v_word >> shift) & 0xffu);
            if (count > 0.0) {
                bytes = vec2<u32>(to_byte(uv.x + delta.x / count), to_byte(uv.y + delta.y / count));
            }
            u_out |= bytes.x << shift;
            v_out |= bytes.y << shift;
        }
        dst[fin.offsets.x + chroma_at] = u_out;
        dst[fin.offsets.y + chroma_at] = v_out;
    }
    for (var r = 0u; r < 2u; r++) {
        for (var w = 0u; w < 2u; w++) {
            var word = 0u;
            for (var k = 0u; k < 4u; k++) {
                word |= u32(luma[r * 8u + w * 4u + k]) << (k * 8u);
            }
            dst[(y0 + r) * fin.frame.z + id.x * 2u + w] = word;
        }
    }
}
