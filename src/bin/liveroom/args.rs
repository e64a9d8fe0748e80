//! Value parsers shared by the subcommands: each turns a flag's text into
//! a checked value, or into the one line clap shows after the flag's name.

use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Any type with `FromStr` whose error says what is allowed (modes,
/// aspects, orientations, object fits).
pub fn from_str<T>(text: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    text.parse().map_err(|e: T::Err| e.to_string())
}

/// An `rtmp://HOST[:PORT]/APP/STREAM[?QUERY]` URL, kept as written.
pub fn rtmp_url(text: &str) -> Result<String, String> {
    liveroom::rtmp::RtmpUrl::parse(text)
        .map(|_| text.to_string())
        .map_err(|e| e.to_string())
}

/// A whole number in `range`, described as `what` ("frames", "seconds").
fn whole_in(text: &str, low: u64, high: u64, what: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| format!("expected {what} from {low} to {high}"))
}

/// A count above zero (`--frames`).
pub fn count_above_zero(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| "expected a whole number above 0".to_string())
}

/// A frame rate from 1 to 240 frames a second.
pub fn fps(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|fps| fps.is_finite() && (1.0..=240.0).contains(fps))
        .ok_or_else(|| "expected a number from 1 to 240".to_string())
}

/// A strength from 0 to 1 (effects, volumes).
pub fn unit(text: &str) -> Result<f32, String> {
    text.parse::<f32>()
        .ok()
        .filter(|x| (0.0..=1.0).contains(x))
        .ok_or_else(|| "expected a number from 0 to 1".to_string())
}

/// Most faces the landmarker follows, 1 to [`liveroom::landmarks::MAX_FACES`].
pub fn max_faces(text: &str) -> Result<usize, String> {
    let most = liveroom::landmarks::MAX_FACES as u64;
    whole_in(text, 1, most, "a whole number").map(|n| n as usize)
}

/// A legacy beauty level, 0 to 9.
pub fn level(text: &str) -> Result<i64, String> {
    whole_in(text, 0, 9, "a whole number").map(|n| n as i64)
}

/// Digital zoom, 1.0 to 8.0.
pub fn zoom(text: &str) -> Result<f32, String> {
    text.parse::<f32>()
        .ok()
        .filter(|z| (1.0..=8.0).contains(z))
        .ok_or_else(|| "expected a number from 1.0 (none) to 8.0".to_string())
}

/// A bitrate in kbps (the range is checked with the mode's).
pub fn kbps(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .map_err(|_| "expected a bitrate in kbps such as 1000".to_string())
}

/// Reconnect attempts, 0 to 100.
pub fn attempts(text: &str) -> Result<u32, String> {
    whole_in(text, 0, 100, "a whole number").map(|n| n as u32)
}

/// A first reconnect back-off, 1 to 60000 ms.
pub fn backoff_ms(text: &str) -> Result<Duration, String> {
    whole_in(text, 1, 60_000, "milliseconds").map(Duration::from_millis)
}

/// How long a signature stays valid: 1 s to a year.
pub fn expire(text: &str) -> Result<Duration, String> {
    whole_in(text, 1, 31_536_000, "seconds").map(Duration::from_secs)
}

/// A non-empty anti-leech key.
pub fn key(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the anti-leech key is empty".into());
    }
    Ok(text.to_string())
}

/// Seconds from 0 to an hour (caches, timeouts).
pub fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && (0.0..=3600.0).contains(s))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "expected seconds from 0 to 3600, such as 0.5".to_string())
}

/// A stream length: above 0, at most a day.
pub fn duration(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| "expected seconds above 0, at most a day".to_string())
}

/// A path that must end in one of `extensions`.
pub fn path_with(text: &str, extensions: &[&str]) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    let fits = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)));
    if fits {
        Ok(path)
    } else {
        let list: Vec<String> = extensions.iter().map(|e| format!(".{e}")).collect();
        Err(format!("expected a {} file", list.join(" or ")))
    }
}

/// A `.png` file.
pub fn png(text: &str) -> Result<PathBuf, String> {
    path_with(text, &["png"])
}

/// A `.y4m` file.
pub fn y4m(text: &str) -> Result<PathBuf, String> {
    path_with(text, &["y4m"])
}

/// The colour filter's strength: `--filter-strength` (default 1), which
/// means nothing without a `--filter` table to blend.
pub fn filter_strength(
    filter: Option<&std::path::Path>,
    strength: Option<f32>,
) -> Result<f32, crate::Failure> {
    match (filter, strength) {
        (None, Some(_)) => Err(crate::Failure::Usage(
            "--filter-strength needs --filter FILE.png (the look-up table to blend)".into(),
        )),
        (_, strength) => Ok(strength.unwrap_or(1.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_words_are_refused_with_what_is_allowed() {
        assert_eq!(zoom("1.5"), Ok(1.5));
        for bad in ["0", "NaN", "many", "9"] {
            assert!(zoom(bad).unwrap_err().contains("1.0"), "{bad}");
        }
        assert_eq!(count_above_zero("3"), Ok(3));
        assert!(count_above_zero("0").is_err() && count_above_zero("-3").is_err());
        assert_eq!(level("9"), Ok(9));
        assert!(level("10").is_err() && level("4.5").is_err());
        assert!(unit("1.5").is_err() && unit("NaN").is_err() && unit("-0.1").is_err());
        assert!(fps("0").is_err() && fps("inf").is_err());
        assert!(seconds("-1").is_err() && seconds("NaN").is_err());
        assert!(duration("0").is_err());
        assert!(attempts("1000").is_err());
        assert!(expire("0").is_err());
        assert!(key("").is_err());
    }

    #[test]
    fn paths_need_their_extension_in_any_case() {
        assert!(path_with("out.FLV", &["y4m", "flv"]).is_ok());
        assert_eq!(
            path_with("out.mp4", &["y4m", "flv"]).unwrap_err(),
            "expected a .y4m or .flv file"
        );
        assert!(png("a.png").is_ok() && png("a.jpg").is_err());
    }
}
