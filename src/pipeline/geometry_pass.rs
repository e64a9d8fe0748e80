//! The geometry pass's compiled variants ([`GeometryVariants`], one per
//! [`VariantKey`], compiled on first use and kept) and its dispatches
//! ([`Dispatch`]): what [`super::FramePipeline::submit`] records for each
//! region or list of tiles of a frame.

use super::uniforms::BlockRegion;
use crate::gpu::{checked, compute_pipeline, GpuError};

/// Which compiled variant of the geometry pass a frame needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct VariantKey {
    /// Taps across and down (`TAPS_X`, `TAPS_Y`).
    pub(super) taps: (u32, u32),
    /// Whether pixels go through RGB (`COLOR_STAGE`).
    pub(super) color_stage: bool,
    /// Whether the frame has face warps (`WARPS`).
    pub(super) warps: bool,
    /// Whether the frame changes the skin's tone, by whitening or
    /// ruddiness (`WHITENING`).
    pub(super) whitening: bool,
    /// Whether the dispatch covers a list of tiles (`TILED`).
    pub(super) tiled: bool,
}

/// Compiled variants of the geometry pass (see [`VariantKey`]), made on
/// first use and kept.
pub(super) struct GeometryVariants {
    pub(super) module: wgpu::ShaderModule,
    pub(super) layout: wgpu::PipelineLayout,
    /// The colour matrices as override constants.
    pub(super) color_constants: Vec<(String, f64)>,
    pub(super) compiled: Vec<(VariantKey, wgpu::ComputePipeline)>,
}

impl GeometryVariants {
    /// Compiles the variant for `key` if it is new; returns its index.
    pub(super) fn prepare(
        &mut self,
        device: &wgpu::Device,
        key: VariantKey,
    ) -> Result<usize, GpuError> {
        let index = match self.compiled.iter().position(|(k, _)| *k == key) {
            Some(index) => index,
            None => {
                let mut constants: Vec<(&str, f64)> = self
                    .color_constants
                    .iter()
                    .map(|(name, value)| (name.as_str(), *value))
                    .collect();
                constants.push(("TAPS_X", key.taps.0 as f64));
                constants.push(("TAPS_Y", key.taps.1 as f64));
                constants.push(("COLOR_STAGE", key.color_stage as u8 as f64));
                constants.push(("WARPS", key.warps as u8 as f64));
                constants.push(("WHITENING", key.whitening as u8 as f64));
                constants.push(("TILED", key.tiled as u8 as f64));
                let pipeline = checked(device, || {
                    compute_pipeline(
                        device,
                        &self.layout,
                        &self.module,
                        "geometry_to_i420",
                        &constants,
                    )
                })?;
                self.compiled.push((key, pipeline));
                self.compiled.len() - 1
            }
        };
        Ok(index)
    }

    /// A variant [`GeometryVariants::prepare`] compiled.
    pub(super) fn pipeline(&self, index: usize) -> &wgpu::ComputePipeline {
        &self.compiled[index].1
    }
}

/// One dispatch of the geometry pass: its compiled variant, the blocks its
/// uniforms name, and for a tiled one the number of tiles (workgroups).
pub(super) struct Dispatch {
    pub(super) variant: usize,
    pub(super) region: BlockRegion,
    pub(super) tiles: Option<usize>,
}

impl Dispatch {
    /// A dispatch over every block of `region`.
    pub(super) fn region(variant: usize, region: BlockRegion) -> Self {
        Self {
            variant,
            region,
            tiles: None,
        }
    }

    /// A dispatch over `count` tiles within `region`.
    pub(super) fn tiles(variant: usize, region: BlockRegion, count: usize) -> Self {
        Self {
            variant,
            region,
            tiles: Some(count),
        }
    }
}
