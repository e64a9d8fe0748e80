//! Where a frame's work runs: decided here, in one place, from a few facts
//! of the frame and the pipeline's [`Placement`].
//!
//! A real GPU runs every pass in the shaders ([`Route::Shader`]). On a
//! software adapter (lavapipe) the CPU does what it does cheaper than the
//! emulated GPU: the plain geometry (`pipeline::plain`), the face warps
//! (`pipeline::cpu_warp`) and the skin effects (`pipeline::cpu_skin`); the
//! shaders then do only what is left, over the blocks it changes, laid over
//! the CPU's frame. One pure function here (`route`) works out which of
//! those a frame takes, as a [`Route`];
//! [`super::FramePipeline::submit`] follows it and
//! [`super::FramePipeline::last_route`] reports it.

use crate::gpu::GpuContext;

/// Where the pipeline may run each part of a frame's work. Each CPU part
/// applies only where the frame allows it (see the fields); the frame's
/// [`Route`] says what it actually took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    /// Every pixel goes through the shader's RGB stage, even without a
    /// colour effect (the output is the same up to rounding; this exists
    /// to check and measure that stage). Every frame then takes
    /// [`Route::Shader`].
    pub always_convert: bool,
    /// The plain geometry (crop, zoom, mirror, scale) on the CPU
    /// (`pipeline::plain`), where the plan samples one tap per pixel (no
    /// scaling down by more than 1×): several times cheaper than the
    /// shader's texture sampling on a software adapter. Both agree within
    /// one level. The other CPU parts need this one.
    pub plain_on_cpu: bool,
    /// Skin whitening, ruddiness and smoothing on the CPU (`pipeline::cpu_skin`), after
    /// whatever the shader does, where the plain geometry is on the CPU.
    pub skin_on_cpu: bool,
    /// The face warps (thinning, eyes) on the CPU (`pipeline::cpu_warp`),
    /// where the plain geometry is on the CPU and the shader would
    /// otherwise warp alone (no whitening in the shader, no smoothing
    /// passes). They use AVX2 where the CPU has it; the environment
    /// variable `LIVEROOM_CPU_SIMD=scalar` (read once per process) forces
    /// the scalar code, which gives the same bytes.
    pub warps_on_cpu: bool,
}

impl Placement {
    /// Everything in the shaders: the default on a real GPU.
    pub const SHADERS: Self = Self {
        always_convert: false,
        plain_on_cpu: false,
        skin_on_cpu: false,
        warps_on_cpu: false,
    };

    /// The plain geometry, the skin effects and the warps on the CPU where
    /// a frame allows: the default on a software adapter.
    pub const CPU_ASSISTS: Self = Self {
        always_convert: false,
        plain_on_cpu: true,
        skin_on_cpu: true,
        warps_on_cpu: true,
    };

    /// The default for `gpu`: [`Placement::CPU_ASSISTS`] on a software
    /// adapter, [`Placement::SHADERS`] on any other.
    pub fn for_adapter(gpu: &GpuContext) -> Self {
        if gpu.is_software() {
            Self::CPU_ASSISTS
        } else {
            Self::SHADERS
        }
    }

    /// Whether the plain geometry may go to the CPU at all: without it,
    /// [`route`] asks for no [`Blocks`].
    pub(crate) fn cpu_plain(&self) -> bool {
        self.plain_on_cpu && !self.always_convert
    }

    /// Whether the shader may whiten over the CPU's plain frame: without
    /// it, [`route`] never asks for [`Blocks::warps_and_whitening`] (a
    /// frame that whitens has its skin effects on the CPU).
    pub(crate) fn shader_may_whiten(&self) -> bool {
        !self.skin_on_cpu
    }
}

/// The way one frame went through the pipeline (see
/// [`super::FramePipeline::last_route`]). Sharpness and the colour filter
/// come last on every route: in the shaders' finishing pass on
/// [`Route::Shader`], on the CPU (`pipeline::finish`) on the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The shaders did the whole frame: the geometry pass (its effects'
    /// variant over the blocks around the faces, the plain one over the
    /// rest), then the smoothing passes where the frame smooths skin.
    Shader,
    /// The CPU did the plain geometry and the frame needed nothing more (no
    /// effect, or none that changes a block of the output) but, where
    /// asked for, sharpness and the colour filter; no GPU pass.
    CpuPlain,
    /// The CPU did the whole frame: the plain geometry, then its warps
    /// where `warps`, then its skin effects where `skin` (one of the two at
    /// least); no GPU pass.
    Cpu {
        /// The CPU warped the tiles the face field moves.
        warps: bool,
        /// The CPU whitened and smoothed the skin.
        skin: bool,
    },
    /// The CPU did the plain geometry; the geometry shader redid the tiles
    /// the face field changes (its warps, and its whitening unless
    /// `skin_on_cpu`), laid over the CPU's frame; then, where
    /// `skin_on_cpu`, the CPU whitened and smoothed the skin.
    CpuPlainGpuTiles {
        /// The CPU did the skin effects after the GPU's part.
        skin_on_cpu: bool,
    },
    /// The CPU did the plain geometry; the geometry shader redid one region
    /// around the faces with every effect, and the smoothing passes (which
    /// read every block around the skin) smoothed it there.
    CpuPlainGpuRegion,
}

impl Route {
    /// Whether the CPU does the skin effects on this route.
    pub(crate) fn skin_on_cpu(&self) -> bool {
        matches!(
            self,
            Route::Cpu { skin: true, .. } | Route::CpuPlainGpuTiles { skin_on_cpu: true }
        )
    }
}

/// What a frame's route depends on besides the [`Placement`]: facts of its
/// geometry plan, effect plan and face field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct FrameFacts {
    /// The CPU's plain scaler can do the geometry (one tap per axis, no
    /// rotation).
    pub plain_fits_cpu: bool,
    /// The CPU's warps can do the geometry (one tap per axis).
    pub warps_fit_cpu: bool,
    /// The frame changes the skin's tone: whitens it, or reddens it
    /// (ruddiness), both done where whitening is.
    pub whitening: bool,
    /// The frame smooths skin.
    pub smoothing: bool,
    /// Whether the shader would have blocks to redo over the CPU's plain
    /// frame, for each share of the effects it may get; consulted only
    /// where the plain geometry goes to the CPU.
    pub blocks: Blocks,
}

/// Whether any block of the output changes with a share of the effects
/// (see [`FrameFacts::blocks`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Blocks {
    /// Some tile where the face field moves pixels (the warps alone).
    pub warps: bool,
    /// Some tile where the face field moves or whitens pixels (the warps
    /// and the whitening); consulted only where
    /// [`Placement::shader_may_whiten`].
    pub warps_and_whitening: bool,
    /// Some block in the region around the faces' effects and the
    /// smoothing's reach (every effect, with the smoothing passes).
    pub around_skin: bool,
}

/// The route of a frame with `facts` under `placement`. Pure: it depends on
/// its arguments alone.
///
/// * Without the plain geometry on the CPU, the shaders do everything.
/// * The skin effects go to the CPU where placed there and the frame has
///   one; smoothing left to the GPU makes it redo one region around the
///   skin (the passes read every block there), with every effect.
/// * Otherwise the GPU would redo only the tiles the face field changes
///   (warps, and whitening where it is not on the CPU); when it would warp
///   alone and the warps are placed on the CPU, the CPU does them too.
/// * Where the GPU's share changes no block, it is left out: the frame is
///   done on the CPU.
pub(crate) fn route(facts: &FrameFacts, placement: Placement) -> Route {
    if !placement.cpu_plain() || !facts.plain_fits_cpu {
        return Route::Shader;
    }
    let skin = placement.skin_on_cpu && (facts.whitening || facts.smoothing);
    let only_plain = || match skin {
        true => Route::Cpu { warps: false, skin },
        false => Route::CpuPlain,
    };
    if facts.smoothing && !skin {
        return match facts.blocks.around_skin {
            true => Route::CpuPlainGpuRegion,
            false => only_plain(),
        };
    }
    let shader_whitens = facts.whitening && !skin;
    let tiles = match shader_whitens {
        true => facts.blocks.warps_and_whitening,
        false => facts.blocks.warps,
    };
    let cpu_warps = placement.warps_on_cpu && facts.warps_fit_cpu && !shader_whitens;
    match (tiles, cpu_warps) {
        (false, _) => only_plain(),
        (true, true) => Route::Cpu { warps: true, skin },
        (true, false) => Route::CpuPlainGpuTiles { skin_on_cpu: skin },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame the CPU can do, with the effects named, each changing
    /// blocks.
    fn frame(warps: bool, whitening: bool, smoothing: bool) -> FrameFacts {
        FrameFacts {
            plain_fits_cpu: true,
            warps_fit_cpu: true,
            whitening,
            smoothing,
            blocks: Blocks {
                warps,
                warps_and_whitening: warps || whitening,
                around_skin: warps || whitening || smoothing,
            },
        }
    }

    /// Every effect.
    const ALL: FrameFacts = FrameFacts {
        plain_fits_cpu: true,
        warps_fit_cpu: true,
        whitening: true,
        smoothing: true,
        blocks: Blocks {
            warps: true,
            warps_and_whitening: true,
            around_skin: true,
        },
    };

    const PLAIN_ON_CPU: Placement = Placement {
        plain_on_cpu: true,
        ..Placement::SHADERS
    };

    #[test]
    fn the_shaders_do_everything_without_the_plain_geometry_on_the_cpu() {
        for facts in [ALL, frame(false, false, false), frame(true, false, false)] {
            assert_eq!(route(&facts, Placement::SHADERS), Route::Shader);
            // The CPU parts need the plain geometry there.
            let skin_and_warps = Placement {
                plain_on_cpu: false,
                ..Placement::CPU_ASSISTS
            };
            assert_eq!(route(&facts, skin_and_warps), Route::Shader);
            // The RGB stage is the shader's.
            let convert = Placement {
                always_convert: true,
                ..Placement::CPU_ASSISTS
            };
            assert_eq!(route(&facts, convert), Route::Shader);
            // A plan the CPU cannot do (scaling down).
            let downscale = FrameFacts {
                plain_fits_cpu: false,
                warps_fit_cpu: false,
                ..facts
            };
            assert_eq!(route(&downscale, Placement::CPU_ASSISTS), Route::Shader);
        }
    }

    #[test]
    fn a_frame_without_effects_is_the_cpus_plain_geometry() {
        for placement in [PLAIN_ON_CPU, Placement::CPU_ASSISTS] {
            assert_eq!(
                route(&frame(false, false, false), placement),
                Route::CpuPlain
            );
        }
        // Effects that change no block (the faces off the output) leave
        // the GPU out too.
        let nothing_changes = FrameFacts {
            blocks: Blocks::default(),
            ..ALL
        };
        assert_eq!(route(&nothing_changes, PLAIN_ON_CPU), Route::CpuPlain);
        let warps_elsewhere = FrameFacts {
            blocks: Blocks::default(),
            ..frame(true, false, false)
        };
        assert_eq!(route(&warps_elsewhere, PLAIN_ON_CPU), Route::CpuPlain);
    }

    #[test]
    fn smoothing_in_the_shaders_redoes_the_region_around_the_skin() {
        for facts in [ALL, frame(false, false, true), frame(true, false, true)] {
            assert_eq!(route(&facts, PLAIN_ON_CPU), Route::CpuPlainGpuRegion);
            // With the warps placed on the CPU too: the shader warps with
            // the smoothing.
            let warps = Placement {
                warps_on_cpu: true,
                ..PLAIN_ON_CPU
            };
            assert_eq!(route(&facts, warps), Route::CpuPlainGpuRegion);
        }
    }

    #[test]
    fn the_shader_redoes_the_tiles_it_warps_or_whitens() {
        // Warps alone, kept on the GPU.
        assert_eq!(
            route(&frame(true, false, false), PLAIN_ON_CPU),
            Route::CpuPlainGpuTiles { skin_on_cpu: false }
        );
        // Whitening in the shader keeps the warps there, wherever placed.
        for placement in [
            PLAIN_ON_CPU,
            Placement {
                warps_on_cpu: true,
                ..PLAIN_ON_CPU
            },
        ] {
            for warps in [false, true] {
                assert_eq!(
                    route(&frame(warps, true, false), placement),
                    Route::CpuPlainGpuTiles { skin_on_cpu: false }
                );
            }
        }
        // The skin effects on the CPU after the GPU's warped tiles.
        let skin = Placement {
            skin_on_cpu: true,
            ..PLAIN_ON_CPU
        };
        for facts in [ALL, frame(true, true, false), frame(true, false, true)] {
            assert_eq!(
                route(&facts, skin),
                Route::CpuPlainGpuTiles { skin_on_cpu: true }
            );
        }
    }

    #[test]
    fn the_cpu_does_the_whole_frame_where_the_gpu_would_warp_alone() {
        let warps = Placement {
            warps_on_cpu: true,
            ..PLAIN_ON_CPU
        };
        assert_eq!(
            route(&frame(true, false, false), warps),
            Route::Cpu {
                warps: true,
                skin: false
            }
        );
        for facts in [ALL, frame(true, true, false), frame(true, false, true)] {
            assert_eq!(
                route(&facts, Placement::CPU_ASSISTS),
                Route::Cpu {
                    warps: true,
                    skin: true
                }
            );
        }
        // Skin effects alone on the CPU, whatever the warps' placement.
        for placement in [
            Placement::CPU_ASSISTS,
            Placement {
                skin_on_cpu: true,
                ..PLAIN_ON_CPU
            },
        ] {
            for facts in [
                frame(false, true, false),
                frame(false, false, true),
                frame(false, true, true),
            ] {
                assert_eq!(
                    route(&facts, placement),
                    Route::Cpu {
                        warps: false,
                        skin: true
                    }
                );
            }
        }
        // Warps that move no block: the CPU's skin effects alone.
        let still = FrameFacts {
            blocks: Blocks::default(),
            ..ALL
        };
        assert_eq!(
            route(&still, Placement::CPU_ASSISTS),
            Route::Cpu {
                warps: false,
                skin: true
            }
        );
    }

    #[test]
    fn warps_the_cpu_cannot_do_stay_in_the_shaders_tiles() {
        let facts = FrameFacts {
            warps_fit_cpu: false,
            ..frame(true, false, false)
        };
        assert_eq!(
            route(&facts, Placement::CPU_ASSISTS),
            Route::CpuPlainGpuTiles { skin_on_cpu: false }
        );
    }

    #[test]
    fn the_skin_effects_go_to_the_cpu_only_with_one_in_the_frame() {
        for (facts, skin) in [
            (frame(true, false, false), false),
            (frame(true, true, false), true),
            (frame(true, false, true), true),
        ] {
            assert_eq!(route(&facts, Placement::CPU_ASSISTS).skin_on_cpu(), skin);
        }
        assert!(!route(&ALL, PLAIN_ON_CPU).skin_on_cpu());
        assert!(!route(&ALL, Placement::SHADERS).skin_on_cpu());
    }

    /// Every placement and every frame, by their bits.
    fn all_cases() -> impl Iterator<Item = (Placement, FrameFacts)> {
        let bit = |n: u32, i: u32| n >> i & 1 == 1;
        (0..16u32).flat_map(move |p| {
            let placement = Placement {
                always_convert: bit(p, 0),
                plain_on_cpu: bit(p, 1),
                skin_on_cpu: bit(p, 2),
                warps_on_cpu: bit(p, 3),
            };
            (0..128u32).map(move |f| {
                let facts = FrameFacts {
                    plain_fits_cpu: bit(f, 0),
                    warps_fit_cpu: bit(f, 1),
                    whitening: bit(f, 2),
                    smoothing: bit(f, 3),
                    blocks: Blocks {
                        warps: bit(f, 4),
                        warps_and_whitening: bit(f, 5),
                        around_skin: bit(f, 6),
                    },
                };
                (placement, facts)
            })
        })
    }

    #[test]
    fn every_route_keeps_to_what_its_placement_and_frame_allow() {
        for (placement, facts) in all_cases() {
            let route = route(&facts, placement);
            let case = format!("{placement:?} {facts:?}: {route:?}");
            if route != Route::Shader {
                assert!(placement.cpu_plain() && facts.plain_fits_cpu, "{case}");
            }
            if let Route::Cpu { warps, skin } = route {
                assert!(warps || skin, "{case}");
                assert!(
                    !warps || (placement.warps_on_cpu && facts.warps_fit_cpu),
                    "{case}"
                );
            }
            if route.skin_on_cpu() {
                assert!(placement.skin_on_cpu, "{case}");
                assert!(facts.whitening || facts.smoothing, "{case}");
            }
            // What the shaders would not do is left out of the facts.
            let unused = [
                (!placement.cpu_plain(), Blocks::default()),
                (
                    !placement.shader_may_whiten(),
                    Blocks {
                        warps_and_whitening: !facts.blocks.warps_and_whitening,
                        ..facts.blocks
                    },
                ),
            ];
            for (applies, blocks) in unused {
                if applies {
                    let other = FrameFacts { blocks, ..facts };
                    assert_eq!(super::route(&other, placement), route, "{case}");
                }
            }
        }
    }
}
