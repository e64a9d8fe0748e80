//! The background effects of `liveroom effects`, done as the pusher does
//! them: the person segmenter finds the picture's person mask once (models
//! from `LIVEROOM_MODELS` or `assets/models`), then each processed picture
//! gets its background blurred or replaced behind it, by the background
//! pass on a real GPU and by the CPU reference on a software adapter.

use std::path::Path;

use liveroom::effects::{apply_background, cover, Background};
use liveroom::face::{PersonMask, PersonSegmenter, SegmentationPaths};
use liveroom::frame::I420Frame;
use liveroom::pipeline::BackgroundPass;
use liveroom::GpuContext;

use crate::Failure;

/// The person mask of one picture and what goes behind it.
pub struct Backdrop {
    mask: PersonMask,
    /// The replacement picture, scaled to cover the input.
    picture: Option<I420Frame>,
    /// The GPU pass; `None` on a software adapter.
    gpu_pass: Option<BackgroundPass>,
}

impl Backdrop {
    /// Finds the person in `frame` and reads the replacement picture, if
    /// any (scaled to cover the frame).
    pub fn new(
        gpu: &GpuContext,
        frame: &I420Frame,
        picture: Option<&Path>,
    ) -> Result<Self, Failure> {
        let mut segmenter =
            PersonSegmenter::new(&SegmentationPaths::from_env()).map_err(Failure::usage)?;
        let mask = segmenter.mask(frame).map_err(Failure::run)?;
        let picture = match picture {
            Some(path) => {
                let image = image::open(path)
                    .map_err(|e| {
                        Failure::Usage(format!("--background-image {}: {e}", path.display()))
                    })?
                    .to_rgb8();
                Some(cover(&image, frame.width(), frame.height()).map_err(Failure::run)?)
            }
            None => None,
        };
        let gpu_pass = if gpu.is_software() {
            None
        } else {
            Some(BackgroundPass::new(gpu).map_err(Failure::run)?)
        };
        Ok(Self {
            mask,
            picture,
            gpu_pass,
        })
    }

    /// `frame` (the processed picture) with its background blurred by
    /// `blur` and, when `replace`, the picture shown behind the person.
    pub fn apply(
        &mut self,
        frame: &I420Frame,
        blur: f32,
        replace: bool,
    ) -> Result<I420Frame, Failure> {
        let picture = self.picture.as_ref().filter(|_| replace);
        if blur <= 0.0 && picture.is_none() {
            return Ok(frame.clone());
        }
        match &mut self.gpu_pass {
            Some(pass) => {
                pass.set_picture(picture);
                pass.process(frame, &self.mask, blur).map_err(Failure::run)
            }
            None => apply_background(
                frame,
                &self.mask,
                &Background {
                    blur,
                    image: picture,
                },
            )
            .map_err(Failure::run),
        }
    }
}
