// The fused geometry pass: for every output pixel, map its centre back into
// the input picture (crop, zoom, mirror, scale), sample the I420 planes there
// (bilinear, with a box prefilter of several taps when scaling down),
// convert to RGB, and convert back to Y, U, V, packed as I420 bytes.
//
// Chroma is sampled once per output 2×2 block, at the block's centre (4:2:0
// carries no finer chroma), and shared by the block's four pixels when they
// are converted to RGB. The output chroma is that sample plus the mean change
// the per-pixel processing made to it, so geometry alone resamples chroma
// once (an identity geometry returns it unchanged) and never blurs it
// through a per-pixel round trip.
//
// One invocation writes an 8×2 block of output pixels: 4 words of luma, one
// word each of U and V (4 chroma samples), so no two invocations ever write
// the same word.
//
// The CPU reference in src/pipeline/reference.rs follows this file line by
// line; change both together. Composed after shaders/effects.wgsl, which
// holds the effect plan (`fx`, binding 5), the warp, skin mask and whitening.

struct Uniforms {
    // Output pixel centre (px, py) -> input position: dot(map.xy, p) + map.z.
    map_x: vec4<f32>,
    map_y: vec4<f32>,
    // xy: offset of the first tap, zw: step between taps (input pixels).
    taps_offset_step: vec4<f32>,
    // Inclusive sampling bounds in the luma plane: x0, y0, x1, y1.
    luma_bounds: vec4<u32>,
    // The same for the chroma planes.
    chroma_bounds: vec4<u32>,
    // Size of one texel in texture coordinates: luma xy, chroma zw.
    input_texel: vec4<f32>,
    // Output: width, height, luma stride in words, chroma stride in words.
    output_layout: vec4<u32>,
    // Output: U offset in words, V offset in words, 8-pixel blocks per row.
    output_offsets: vec4<u32>,
    // The blocks this dispatch covers: first column and row of 8×2 blocks,
    // and the end (exclusive). The whole frame, or only where effects act.
    region: vec4<u32>,
}

// Taps per axis, fixed per compiled pipeline so that the sampling loops
// have constant trip counts and unroll (a dynamic loop costs 2× on lavapipe).
override TAPS_X: u32 = 1u;
override TAPS_Y: u32 = 1u;

// Whether pixels go through RGB (for the colour effects). Without a colour
// effect the round trip is the identity, and skipping it saves a third of
// the pass on a software driver.
override COLOR_STAGE: bool = true;

// Whether the frame has face warps (thinning, eyes) and a skin tone change
// (whitening or ruddiness, `WHITENING`); without them their code is
// compiled out.
override WARPS: bool = false;
override WHITENING: bool = false;

// Whether the dispatch covers a list of tiles of the region, one
// workgroup per tile (8×8 blocks, origins in `tiles`), instead of the whole
// region: on a software adapter, only the tiles where the face field is
// not zero (the rest is the CPU's plain frame).
override TILED: bool = false;

// The colour matrices (src/color.rs, BT.601 video range), fixed per compiled
// pipeline so that the conversions fold into constant arithmetic. Row r,
// column c of YUV → RGB is YUV_TO_RGB_rc; YUV_OFFSET_k is subtracted from
// normalised Y, U, V before it and added back after RGB → YUV.
override YUV_TO_RGB_00: f32; override YUV_TO_RGB_01: f32; override YUV_TO_RGB_02: f32;
override YUV_TO_RGB_10: f32; override YUV_TO_RGB_11: f32; override YUV_TO_RGB_12: f32;
override YUV_TO_RGB_20: f32; override YUV_TO_RGB_21: f32; override YUV_TO_RGB_22: f32;
override RGB_TO_YUV_00: f32; override RGB_TO_YUV_01: f32; override RGB_TO_YUV_02: f32;
override RGB_TO_YUV_10: f32; override RGB_TO_YUV_11: f32; override RGB_TO_YUV_12: f32;
override RGB_TO_YUV_20: f32; override RGB_TO_YUV_21: f32; override RGB_TO_YUV_22: f32;
override YUV_OFFSET_0: f32; override YUV_OFFSET_1: f32; override YUV_OFFSET_2: f32;

@group(0) @binding(0) var<uniform> u: Uniforms;
// The Y plane (R8) and the U and V planes interleaved (RG8: one sample
// fetches both).
@group(0) @binding(1) var luma_plane: texture_2d<f32>;
@group(0) @binding(2) var chroma_planes: texture_2d<f32>;
// Linear filtering: the texture unit does the bilinear interpolation.
@group(0) @binding(3) var bilinear: sampler;
@group(0) @binding(4) var<storage, read_write> dst: array<u32>;
// The tiles of a tiled dispatch: each one's first block (column, row).
@group(0) @binding(10) var<storage, read> tiles: array<vec2<u32>>;


// Bilinear luma (0..1) at a pixel-centre position, clamped to the crop.
fn luma_at(pos: vec2<f32>) -> f32 {
    let p = clamp(pos, vec2<f32>(u.luma_bounds.xy), vec2<f32>(u.luma_bounds.zw));
    return textureSampleLevel(luma_plane, bilinear, (p + vec2<f32>(0.5)) * u.input_texel.xy, 0.0).r;
}

// Bilinear U, V (0..1) at a chroma-plane position, clamped to the crop.
fn chroma_at(pos: vec2<f32>) -> vec2<f32> {
    let p = clamp(pos, vec2<f32>(u.chroma_bounds.xy), vec2<f32>(u.chroma_bounds.zw));
    let t = (p + vec2<f32>(0.5)) * u.input_texel.zw;
    return textureSampleLevel(chroma_planes, bilinear, t, 0.0).rg;
}

// Y (0..1) at an input luma position, averaged over the taps.
fn sample_y(pos: vec2<f32>) -> f32 {
    var sum = 0.0;
    for (var j = 0u; j < TAPS_Y; j++) {
        for (var i = 0u; i < TAPS_X; i++) {
            let p = pos + u.taps_offset_step.xy + vec2<f32>(f32(i), f32(j)) * u.taps_offset_step.zw;
            sum += luma_at(p);
        }
    }
    return sum / f32(TAPS_X * TAPS_Y);
}

// U, V (0..1) for the output chroma sample whose centre maps to the input
// luma position `pos`; its footprint is twice a pixel's, so are the tap steps.
fn sample_uv(pos: vec2<f32>) -> vec2<f32> {
    var sum = vec2<f32>(0.0);
    for (var j = 0u; j < TAPS_Y; j++) {
        for (var i = 0u; i < TAPS_X; i++) {
            let p = pos + 2.0 * (u.taps_offset_step.xy + vec2<f32>(f32(i), f32(j)) * u.taps_offset_step.zw);
            // Chroma is centre-sited: chroma sample k covers luma 2k and 2k+1.
            let c = (p + vec2<f32>(0.5)) * 0.5 - vec2<f32>(0.5);
            sum += chroma_at(c);
        }
    }
    return sum / f32(TAPS_X * TAPS_Y);
}

fn to_rgb(yuv: vec3<f32>) -> vec3<f32> {
    let d = yuv - vec3<f32>(YUV_OFFSET_0, YUV_OFFSET_1, YUV_OFFSET_2);
    return vec3<f32>(
        dot(vec3<f32>(YUV_TO_RGB_00, YUV_TO_RGB_01, YUV_TO_RGB_02), d),
        dot(vec3<f32>(YUV_TO_RGB_10, YUV_TO_RGB_11, YUV_TO_RGB_12), d),
        dot(vec3<f32>(YUV_TO_RGB_20, YUV_TO_RGB_21, YUV_TO_RGB_22), d),
    );
}

fn to_yuv(rgb: vec3<f32>) -> vec3<f32> {
    return vec3<f32>(
        dot(vec3<f32>(RGB_TO_YUV_00, RGB_TO_YUV_01, RGB_TO_YUV_02), rgb),
        dot(vec3<f32>(RGB_TO_YUV_10, RGB_TO_YUV_11, RGB_TO_YUV_12), rgb),
        dot(vec3<f32>(RGB_TO_YUV_20, RGB_TO_YUV_21, RGB_TO_YUV_22), rgb),
    ) + vec3<f32>(YUV_OFFSET_0, YUV_OFFSET_1, YUV_OFFSET_2);
}

// Output point (pixel centres at +0.5) -> input luma position.
fn map_to_input(p: vec2<f32>) -> vec2<f32> {
    return vec2<f32>(dot(u.map_x.xy, p) + u.map_x.z, dot(u.map_y.xy, p) + u.map_y.z);
}

// The processed Y, U, V (0..1) of the output pixel (x, y), whose block's
// chroma sample is `uv` (with skin chroma term `chroma`) and whose block's
// face-field cell is `cell`.
fn shade(x: u32, y: u32, uv: vec2<f32>, chroma: f32, cell: FaceCell) -> vec3<f32> {
    let p = vec2<f32>(f32(x) + 0.5, f32(y) + 0.5);
    var face = vec3<f32>(0.0);
    if (WARPS || WHITENING) {
        face = face_in(cell, p);
    }
    var yuv = vec3<f32>(sample_y(map_to_input(p + face.xy)), uv);
    if (COLOR_STAGE) {
        yuv = to_yuv(to_rgb(yuv));
    }
    if (WHITENING) {
        // The RGB round trip may move a pixel's chroma a little.
        var skin = chroma;
        if (COLOR_STAGE) {
            skin = skin_chroma(yuv.yz);
        }
        let weight = skin_weight(face, yuv.x, skin);
        // Both from the pixel as it was, before either changes it.
        let rosy = weight * fx.strengths.z * ruddy_depth(yuv.x);
        let amount = weight * fx.strengths.x;
        if (amount > 0.0) {
            yuv = whiten(yuv, amount);
        }
        if (rosy > 0.0) {
            yuv = redden(yuv, rosy);
        }
    }
    return yuv;
}

// The input luma position an output point samples: warp, then geometry.
fn source_of(p: vec2<f32>, cell: FaceCell) -> vec2<f32> {
    if (WARPS) {
        return map_to_input(p + face_in(cell, p).xy);
    }
    return map_to_input(p);
}

fn to_byte(v: f32) -> u32 {
    return u32(clamp(round(v * 255.0), 0.0, 255.0));
}

@compute @workgroup_size(8, 8, 1)
fn geometry_to_i420(
    @builtin(global_invocation_id) id: vec3<u32>,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let width = u.output_layout.x;
    let height = u.output_layout.y;
    var block = id.xy + u.region.xy;
    if (TILED) {
        block = tiles[group.x] + local.xy;
    }
    if (block.x >= u.region.z || block.y >= u.region.w
        || block.x >= u.output_offsets.z || block.y * 2u >= height) {
        return;
    }
    let y = block.y * 2u;
    // Luma words of the two rows (4 pixels each), and the chroma words.
    var top = vec2<u32>(0u, 0u);
    var bottom = vec2<u32>(0u, 0u);
    var u_word = 0u;
    var v_word = 0u;
    for (var k = 0u; k < 4u; k++) {
        // One 2×2 block; padding columns past the width repeat the last pixel.
        let x = block.x * 8u + 2u * k;
        let x0 = min(x, width - 1u);
        let x1 = min(x + 1u, width - 1u);
        let centre = vec2<f32>(f32(x + 1u), f32(y + 1u));
        var cell: FaceCell;
        if (WARPS || WHITENING) {
            cell = face_cell(centre);
        }
        let uv = sample_uv(source_of(centre, cell));
        var skin = 0.0;
        if (WHITENING) {
            skin = skin_chroma(uv);
        }
        let a = shade(x0, y, uv, skin, cell);
        let b = shade(x1, y, uv, skin, cell);
        let c = shade(x0, y + 1u, uv, skin, cell);
        let d = shade(x1, y + 1u, uv, skin, cell);
        let shift = (k & 1u) * 16u;
        let upper = (to_byte(a.x) | (to_byte(b.x) << 8u)) << shift;
        let lower = (to_byte(c.x) | (to_byte(d.x) << 8u)) << shift;
        if (k < 2u) {
            top.x |= upper;
            bottom.x |= lower;
        } else {
            top.y |= upper;
            bottom.y |= lower;
        }
        let delta = (a.yz - uv) + (b.yz - uv) + (c.yz - uv) + (d.yz - uv);
        let chroma = uv + delta * 0.25;
        u_word |= to_byte(chroma.x) << (k * 8u);
        v_word |= to_byte(chroma.y) << (k * 8u);
    }
    let at = y * u.output_layout.z + block.x * 2u;
    dst[at] = top.x;
    dst[at + 1u] = top.y;
    dst[at + u.output_layout.z] = bottom.x;
    dst[at + u.output_layout.z + 1u] = bottom.y;
    let chroma_at = block.y * u.output_layout.w + block.x;
    dst[u.output_offsets.x + chroma_at] = u_word;
    dst[u.output_offsets.y + chroma_at] = v_word;
}
