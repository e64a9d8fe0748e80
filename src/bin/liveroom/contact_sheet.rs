//! The before/after sheet of `liveroom effects --contact-sheet`: one column
//! per effect (the original first, every effect alone at full strength,
//! the background blurred (and replaced, given a picture), then all of
//! them together, the background blurred too), the whole picture in the top row and a
//! close-up of the first face below it, where skin texture can be judged.

use image::imageops::{self, FilterType};
use image::RgbImage;
use liveroom::effects::{EffectError, EffectParams};
use liveroom::landmarks::FaceLandmarks;

/// Width of every tile, in pixels.
pub const TILE_WIDTH: u32 = 320;

/// One column of the sheet: its caption and the effects it shows.
pub struct Tile {
    /// The caption, printed in the sheet's order.
    pub name: &'static str,
    /// The effects of this column.
    pub effects: EffectParams,
    /// Whether the column shows `--background-image` behind the person.
    pub replace: bool,
}

/// The sheet's columns, left to right; a colour-filter column when the
/// command was given a look-up table (`with_filter`), a background-image
/// column when it was given a picture (`with_picture`).
pub fn tiles(with_filter: bool, with_picture: bool) -> Result<Vec<Tile>, EffectError> {
    let plain = |w, s, t, e| EffectParams::new(w, s, t, e);
    let tile = |name, effects| Tile {
        name,
        effects,
        replace: false,
    };
    let mut tiles = vec![
        tile("original", EffectParams::default()),
        tile("whiteness", plain(1.0, 0.0, 0.0, 0.0)?),
        tile("smoothness", plain(0.0, 1.0, 0.0, 0.0)?),
        tile("ruddiness", EffectParams::default().with_ruddiness(1.0)?),
        tile("thinness", plain(0.0, 0.0, 1.0, 0.0)?),
        tile("eyes", plain(0.0, 0.0, 0.0, 1.0)?),
        tile("sharpness", EffectParams::default().with_sharpness(1.0)?),
    ];
    if with_filter {
        tiles.push(tile(
            "filter",
            EffectParams::default().with_filter_strength(1.0)?,
        ));
    }
    tiles.push(tile(
        "background blur",
        EffectParams::default().with_background_blur(1.0)?,
    ));
    if with_picture {
        tiles.push(Tile {
            name: "background image",
            effects: EffectParams::default(),
            replace: true,
        });
    }
    tiles.push(tile(
        "all",
        plain(1.0, 1.0, 1.0, 1.0)?
            .with_ruddiness(1.0)?
            .with_sharpness(1.0)?
            .with_filter_strength(1.0)?
            .with_background_blur(1.0)?,
    ));
    Ok(tiles)
}

/// The square around the first face (1.3 face heights across, inside the
/// picture) as `[x, y, side]`, or the whole picture's centre square when
/// there is no face.
pub fn close_up_square(width: u32, height: u32, faces: &[FaceLandmarks]) -> [u32; 3] {
    let shortest = width.min(height);
    let Some(face) = faces.first() else {
        return [(width - shortest) / 2, (height - shortest) / 2, shortest];
    };
    let [x, y, w, h] = face.bbox;
    let side = ((w.max(h) * 1.3).round() as u32).clamp(16, shortest);
    let centre = [x + w / 2.0, y + h / 2.0];
    let start = |c: f32, extent: u32| {
        let wanted = (c - side as f32 / 2.0).round().max(0.0) as u32;
        wanted.min(extent - side)
    };
    [start(centre[0], width), start(centre[1], height), side]
}

/// Assembles the sheet from the processed pictures, one per tile, in the
/// order of [`tiles`].
pub fn assemble(pictures: &[RgbImage], close_up: [u32; 3]) -> RgbImage {
    let Some(first) = pictures.first() else {
        return RgbImage::new(0, 0);
    };
    let whole_height =
        ((first.height() as u64 * TILE_WIDTH as u64) / first.width().max(1) as u64) as u32;
    let columns = pictures.len() as u32;
    let mut sheet = RgbImage::new(TILE_WIDTH * columns, whole_height + TILE_WIDTH);
    let [x, y, side] = close_up;
    for (column, picture) in pictures.iter().enumerate() {
        let left = i64::from(column as u32 * TILE_WIDTH);
        let whole = imageops::resize(picture, TILE_WIDTH, whole_height, FilterType::Triangle);
        imageops::replace(&mut sheet, &whole, left, 0);
        let face = imageops::crop_imm(picture, x, y, side, side).to_image();
        let face = imageops::resize(&face, TILE_WIDTH, TILE_WIDTH, FilterType::CatmullRom);
        imageops::replace(&mut sheet, &face, left, i64::from(whole_height));
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: [f32; 4]) -> FaceLandmarks {
        FaceLandmarks {
            bbox,
            left_eye: [bbox[0] + bbox[2] * 0.3, bbox[1] + bbox[3] * 0.4],
            right_eye: [bbox[0] + bbox[2] * 0.7, bbox[1] + bbox[3] * 0.4],
            contour: Vec::new(),
        }
    }

    #[test]
    fn the_close_up_stays_inside_the_picture() {
        assert_eq!(close_up_square(512, 512, &[]), [0, 0, 512]);
        assert_eq!(close_up_square(640, 480, &[]), [80, 0, 480]);
        // 100 px face in the middle: 130 px around its centre.
        assert_eq!(
            close_up_square(512, 512, &[face([200.0, 200.0, 100.0, 100.0])]),
            [185, 185, 130]
        );
        // Near the corner: moved in, not cut.
        assert_eq!(
            close_up_square(512, 512, &[face([0.0, 450.0, 100.0, 60.0])]),
            [0, 382, 130]
        );
    }

    #[test]
    fn the_background_columns_come_before_all() {
        let names = |tiles: Vec<Tile>| tiles.iter().map(|t| t.name).collect::<Vec<_>>();
        let plain = names(tiles(false, false).expect("tiles"));
        assert_eq!(plain[plain.len() - 2..], ["background blur", "all"]);
        let both = tiles(true, true).expect("tiles");
        let replaced: Vec<_> = both.iter().filter(|t| t.replace).map(|t| t.name).collect();
        assert_eq!(replaced, ["background image"]);
        let all = both.last().expect("all");
        assert_eq!(all.effects.background_blur(), 1.0);
        assert!(names(both).contains(&"filter"));
    }

    #[test]
    fn the_sheet_has_a_column_per_picture_and_two_rows() {
        let pictures = vec![RgbImage::new(640, 480); 3];
        let sheet = assemble(&pictures, [80, 0, 480]);
        assert_eq!(sheet.dimensions(), (TILE_WIDTH * 3, 240 + TILE_WIDTH));
    }
}
