// YUV → RGB with src/color.rs's matrix and offsets (override constants),
// clamped to 0..1: prepended to window.wgsl and yuv420_to_target.wgsl.

override YUV_TO_RGB_00: f32; override YUV_TO_RGB_01: f32; override YUV_TO_RGB_02: f32;
override YUV_TO_RGB_10: f32; override YUV_TO_RGB_11: f32; override YUV_TO_RGB_12: f32;
override YUV_TO_RGB_20: f32; override YUV_TO_RGB_21: f32; override YUV_TO_RGB_22: f32;
override YUV_OFFSET_0: f32; override YUV_OFFSET_1: f32; override YUV_OFFSET_2: f32;

fn yuv_to_rgb(yuv: vec3<f32>) -> vec3<f32> {
    let d = yuv - vec3<f32>(YUV_OFFSET_0, YUV_OFFSET_1, YUV_OFFSET_2);
    return clamp(vec3<f32>(
        dot(vec3<f32>(YUV_TO_RGB_00, YUV_TO_RGB_01, YUV_TO_RGB_02), d),
        dot(vec3<f32>(YUV_TO_RGB_10, YUV_TO_RGB_11, YUV_TO_RGB_12), d),
        dot(vec3<f32>(YUV_TO_RGB_20, YUV_TO_RGB_21, YUV_TO_RGB_22), d),
    ), vec3<f32>(0.0), vec3<f32>(1.0));
}
