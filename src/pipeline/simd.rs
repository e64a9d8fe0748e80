//! Which vector instructions the CPU routes' hot loops use: AVX2 where
//! the processor has it (found at run time; the build itself targets
//! baseline x86-64), scalar code otherwise or when
//! `LIVEROOM_CPU_SIMD=scalar` asks for it. Each vector form is checked
//! against the scalar one by its module's tests.

/// The environment variable that forces the scalar code (`scalar`).
pub(crate) const SIMD_VARIABLE: &str = "LIVEROOM_CPU_SIMD";

/// The vector instructions the hot loops may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Simd {
    /// AVX2: only ever set by [`Simd::detect`] on a CPU that has it.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Plain scalar code.
    Scalar,
}

impl Simd {
    /// The instructions to use: the best this CPU has, unless
    /// `LIVEROOM_CPU_SIMD=scalar` ([`SIMD_VARIABLE`]) asks for scalar
    /// code. The variable is read once, on the first call.
    pub(super) fn detect() -> Self {
        static CHOSEN: std::sync::OnceLock<Simd> = std::sync::OnceLock::new();
        *CHOSEN.get_or_init(|| Self::chosen(std::env::var(SIMD_VARIABLE).ok().as_deref()))
    }

    /// The instructions a setting of [`SIMD_VARIABLE`] asks for: scalar
    /// code for `scalar` (any case, spaces around ignored), the best this
    /// CPU has for anything else or none.
    pub(super) fn chosen(setting: Option<&str>) -> Self {
        match setting {
            Some(value) if value.trim().eq_ignore_ascii_case("scalar") => Simd::Scalar,
            _ => Self::best(),
        }
    }

    /// The best this CPU has.
    pub(super) fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Simd::Avx2;
        }
        Simd::Scalar
    }
}
