//! The skin-colour model (a soft ellipse in Cb/Cr times a luma fade-in)
//! that weighs the skin mask, the whitening tone curve and the ruddiness
//! shift.

use super::smoothstep;

/// Soft skin-colour model in video-range YCbCr (normalised 0..1): an ellipse
/// around (Cb, Cr) = (102, 152)/255 with half-axes (28, 24)/255, fading from
/// 40 % of the way out to its edge, times a fade-in of luma from 30 to 80
/// (deep shadows and dark hair are not skin).
pub fn skin_colour_weight(yuv: [f32; 3]) -> f32 {
    skin_chroma_weight(yuv[1], yuv[2]) * skin_luma_weight(yuv[0])
}

/// The chroma term of [`skin_colour_weight`] (`u`, `v` normalised): pixels
/// that share their chroma compute it once.
pub fn skin_chroma_weight(u: f32, v: f32) -> f32 {
    let cb = (u * 255.0 - 102.0) / 28.0;
    let cr = (v * 255.0 - 152.0) / 24.0;
    1.0 - smoothstep(0.4, 1.0, (cb * cb + cr * cr).sqrt())
}

/// The luma term of [`skin_colour_weight`] (`y` normalised).
pub fn skin_luma_weight(y: f32) -> f32 {
    smoothstep(30.0, 80.0, y * 255.0)
}

/// How strongly whitening lifts mid-tones: the curve is
/// `x (1 + k) / (1 + k x)` (mid-grey 0.5 goes to 0.66).
pub const WHITEN_LIFT: f32 = 0.95;

/// The whitening of one pixel: `yuv` (normalised, video range) with weight
/// `amount` = mask × strength; an amount of 0 leaves the pixel exactly as
/// it was.
pub fn whiten(yuv: [f32; 3], amount: f32) -> [f32; 3] {
    if amount <= 0.0 {
        return yuv;
    }
    let x = ((yuv[0] * 255.0 - 16.0) / 219.0).clamp(0.0, 1.0);
    // A rational lift, 0 → 0 and 1 → 1, within 0.01 of the logarithmic
    // one (ln(1 + 3x) / ln 4) it replaced: a division costs a software GPU
    // far less than a logarithm.
    let curved = x * (1.0 + WHITEN_LIFT) / (1.0 + WHITEN_LIFT * x);
    let luma = (16.0 + 219.0 * (x + (curved - x) * amount)) / 255.0;
    let grey = 128.0 / 255.0;
    let keep = 1.0 - 0.08 * amount;
    [
        luma,
        grey + (yuv[1] - grey) * keep,
        grey + (yuv[2] - grey) * keep,
    ]
}

/// How far ruddiness moves a skin pixel's chroma at full amount, in levels
/// of (Cb, Cr): mostly toward red (Cr), and a little toward blue (Cb) so
/// that the tone turns pink rather than orange. On a typical light skin
/// (RGB 224, 172, 150) that is about +13 red, −7 green, +4 blue at the
/// same luma.
pub const RUDDY_SHIFT: [f32; 2] = [2.0, 8.0];

/// The ruddiness of one pixel: `yuv` (normalised, video range) with weight
/// `amount` = mask × strength. Luma stays exactly as it was; chroma moves
/// by [`RUDDY_SHIFT`] × `amount`. An amount of 0 leaves the pixel exactly
/// as it was.
pub fn redden(yuv: [f32; 3], amount: f32) -> [f32; 3] {
    if amount <= 0.0 {
        return yuv;
    }
    [
        yuv[0],
        yuv[1] + RUDDY_SHIFT[0] / 255.0 * amount,
        yuv[2] + RUDDY_SHIFT[1] / 255.0 * amount,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitening_is_monotone_and_keeps_the_ends() {
        let mut last = -1.0;
        for level in 16..=235 {
            let y = whiten([level as f32 / 255.0, 0.5, 0.5], 1.0)[0];
            assert!(y > last);
            last = y;
        }
        assert!((whiten([16.0 / 255.0, 0.5, 0.5], 1.0)[0] * 255.0 - 16.0).abs() < 1e-3);
        assert!((whiten([235.0 / 255.0, 0.5, 0.5], 1.0)[0] * 255.0 - 235.0).abs() < 1e-3);
        assert_eq!(whiten([0.4, 0.3, 0.7], 0.0), [0.4, 0.3, 0.7]);
    }

    #[test]
    fn reddening_keeps_luma_and_raises_cr() {
        let skin = [0.6, 102.0 / 255.0, 152.0 / 255.0];
        assert_eq!(redden(skin, 0.0), skin);
        let full = redden(skin, 1.0);
        assert_eq!(full[0], skin[0]);
        assert!(((full[2] - skin[2]) * 255.0 - RUDDY_SHIFT[1]).abs() < 1e-3);
        assert!(((full[1] - skin[1]) * 255.0 - RUDDY_SHIFT[0]).abs() < 1e-3);
        let half = redden(skin, 0.5);
        assert!(((half[2] - skin[2]) * 255.0 - RUDDY_SHIFT[1] / 2.0).abs() < 1e-3);
    }

    #[test]
    fn skin_colour_model_accepts_skin_and_refuses_others() {
        let m = crate::color::ColorMatrix::bt601_video_range();
        let yuv = |rgb: [u8; 3]| crate::color::rgb8_to_yuv(&m, rgb);
        assert!(skin_colour_weight(yuv([224, 172, 150])) > 0.9, "light skin");
        assert!(skin_colour_weight(yuv([141, 85, 60])) > 0.5, "dark skin");
        assert_eq!(skin_colour_weight(yuv([40, 80, 200])), 0.0, "blue");
        assert_eq!(skin_colour_weight(yuv([60, 160, 60])), 0.0, "green");
        assert_eq!(skin_colour_weight(yuv([20, 15, 12])), 0.0, "near black");
    }
}
