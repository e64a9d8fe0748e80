//! What the benches share: the test portrait framed as the chain's clip
//! frames it.

/// A close-up of the portrait in a `width × height` frame: the portrait
/// scaled to `side`², the window's top-left corner at (`x`, `top`), as
/// `scripts/bench_chain.sh` makes its panning clip (1440 and 150 for a
/// 1280×720 frame: the face fills about half of a vertical output).
pub fn close_up(
    photo: &image::RgbImage,
    side: u32,
    (width, height): (u32, u32),
    (x, top): (u32, u32),
) -> image::RgbImage {
    let big = image::imageops::resize(photo, side, side, image::imageops::FilterType::Triangle);
    image::imageops::crop_imm(&big, x, top, width, height).to_image()
}
