//! The skin-colour model (a soft ellipse in Cb/Cr times a luma fade-in)
//! that weighs the skin mask, the whitening tone curve (luma lifted,
//! chroma scaled with it so the hue stays) and the ruddiness shift.

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

/// How much of luma's relative lift whitening gives the chroma offsets
/// (Cb − 128, Cr − 128) too: 1 would keep the colour's saturation exactly
/// (every RGB channel scaled alike, like more light), 0 would keep the
/// chroma as it was, so that the brighter skin reads greyer. At 0.75 the
/// skin keeps its hue exactly and at least 87 % of its saturation (chroma
/// over video-range luma), mid-grey luma about 94 %.
pub const WHITEN_CHROMA: f32 = 0.75;

/// Whitening's change of one pixel at full amount, from its video-range
/// luma byte `level` as a normalised value `y`: the luma lift (normalised,
/// added to `y`) and the gain of its chroma offsets less one (the offsets
/// are scaled by `1 + gain × amount`). Both are 0 at the luma range's ends.
pub fn whiten_lift(y: f32) -> (f32, f32) {
    let x = ((y * 255.0 - 16.0) / 219.0).clamp(0.0, 1.0);
    // A rational lift, 0 → 0 and 1 → 1, within 0.01 of the logarithmic
    // one (ln(1 + 3x) / ln 4) it replaced: a division costs a software GPU
    // far less than a logarithm. Its relative lift, (curved − x) / x,
    // is k (1 − x) / (1 + k x), finite at 0.
    let relative = WHITEN_LIFT * (1.0 - x) / (1.0 + WHITEN_LIFT * x);
    let curved = x * (1.0 + relative);
    (219.0 * (curved - x) / 255.0, WHITEN_CHROMA * relative)
}

/// The whitening of one pixel: `yuv` (normalised, video range) with weight
/// `amount` = mask × strength. Luma follows the curve
/// `x (1 + k) / (1 + k x)` ([`WHITEN_LIFT`]) blended by `amount`; the
/// chroma offsets from grey grow by [`WHITEN_CHROMA`] of luma's relative
/// lift, so the hue stays and the saturation mostly does
/// ([`whiten_lift`]). An amount of 0 leaves the pixel exactly as it was.
pub fn whiten(yuv: [f32; 3], amount: f32) -> [f32; 3] {
    if amount <= 0.0 {
        return yuv;
    }
    let (lift, chroma_gain) = whiten_lift(yuv[0]);
    let x = ((yuv[0] * 255.0 - 16.0) / 219.0).clamp(0.0, 1.0);
    let luma = (16.0 + 219.0 * x) / 255.0 + lift * amount;
    let grey = 128.0 / 255.0;
    let gain = 1.0 + chroma_gain * amount;
    [
        luma,
        grey + (yuv[1] - grey) * gain,
        grey + (yuv[2] - grey) * gain,
    ]
}

/// How far ruddiness moves a skin pixel's chroma at full amount, in levels
/// of (Cb, Cr): mostly toward red (Cr), and a little toward blue (Cb) so
/// that the tone turns pink rather than orange. On a typical light skin
/// (RGB 224, 172, 150) that is about +13 red, −7 green, +4 blue at the
/// same luma.
pub const RUDDY_SHIFT: [f32; 2] = [2.0, 8.0];

/// The share of video-range luma (above black) from which ruddiness moves
/// chroma by the whole [`RUDDY_SHIFT`] (luma level 147).
pub const RUDDY_FULL_AT: f32 = 0.6;

/// How much of [`RUDDY_SHIFT`] a pixel of luma `y` (normalised, video
/// range) gets: the whole from [`RUDDY_FULL_AT`] up, less below in
/// proportion to its brightness, as a colour's own chroma scales with its
/// brightness. So darker skin gets the same rosiness relative to its
/// colour instead of a fixed shift that reads too red on it.
pub fn ruddy_depth(y: f32) -> f32 {
    ((y * 255.0 - 16.0) / (219.0 * RUDDY_FULL_AT)).clamp(0.0, 1.0)
}

/// The ruddiness of one pixel: `yuv` (normalised, video range) with weight
/// `amount` = mask × strength × [`ruddy_depth`] of the pixel's luma before
/// any tone change. Luma stays exactly as it was; chroma moves by
/// [`RUDDY_SHIFT`] × `amount`. An amount of 0 leaves the pixel exactly as
/// it was.
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
    fn whitening_keeps_hue_and_most_saturation() {
        let grey = 128.0 / 255.0;
        for level in (30..=230).step_by(10) {
            let skin = [level as f32 / 255.0, 102.0 / 255.0, 152.0 / 255.0];
            let white = whiten(skin, 1.0);
            let offsets = |p: [f32; 3]| [p[1] - grey, p[2] - grey];
            let (before, after) = (offsets(skin), offsets(white));
            let hue = |o: [f32; 2]| o[1].atan2(o[0]);
            assert!((hue(after) - hue(before)).abs() < 1e-4, "level {level}");
            // Saturation: chroma over video-range luma.
            let saturation = |p: [f32; 3], o: [f32; 2]| o[0].hypot(o[1]) / (p[0] - 16.0 / 255.0);
            let kept = saturation(white, after) / saturation(skin, before);
            assert!((0.87..=1.0).contains(&kept), "level {level}: {kept}");
            assert!(white[0] > skin[0], "level {level}");
        }
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
        // Darker skin (RGB 141, 85, 60: luma about 96) is toned in
        // proportion to its brightness, not by the whole shift.
        let m = crate::color::ColorMatrix::bt601_video_range();
        let dark = crate::color::rgb8_to_yuv(&m, [141, 85, 60]);
        let toned = redden(dark, ruddy_depth(dark[0]));
        let rise = (toned[2] - dark[2]) * 255.0;
        assert!(
            rise > 0.4 * RUDDY_SHIFT[1] && rise < 0.7 * RUDDY_SHIFT[1],
            "{rise}"
        );
        assert_eq!(ruddy_depth(0.0), 0.0);
        assert_eq!(ruddy_depth(1.0), 1.0);
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
