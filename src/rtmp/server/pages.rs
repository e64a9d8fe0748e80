//! The HTML pages of the embedded server: `/`, the live streams with their
//! play URLs, and `/APP/STREAM.html`, the watch page.
//!
//! The watch page (`watch_page.html`, our own markup and script, no
//! third-party code) plays the stream's HLS playlist in the browser's own
//! player, shows its figures (resolution, frame rate, bitrate, viewers, how
//! far behind live) and keeps its playback state as JSON in the element
//! with id `state`. It takes the anti-leech query it was opened with to
//! the playlist, so a signed page plays a signed stream.

use std::fmt::Write as _;

use super::registry::{LiveStream, PURE_AUDIO_SUFFIX};

/// The watch page's markup; `{{NAME}}` stands for `app/stream`.
const WATCH_PAGE: &str = include_str!("watch_page.html");

/// Where a stream is played from, as the index page writes it: RTMP and
/// HTTP `host:port`.
pub(super) struct PlayHosts {
    /// `host:port` of the RTMP listener.
    pub(super) rtmp: String,
    /// `host:port` of the HTTP listener.
    pub(super) http: String,
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The watch page of `app/stream`.
pub(super) fn watch_page(app: &str, stream: &str) -> String {
    WATCH_PAGE.replace("{{NAME}}", &escape(&format!("{app}/{stream}")))
}

/// The `/` page: every live stream with its watch page and play URLs.
pub(super) fn index_page(streams: &[LiveStream], hosts: &PlayHosts) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>liveroom: live streams</title>\
         </head>\n<body>\n<h1>Live streams</h1>\n",
    );
    if streams.is_empty() {
        html.push_str("<p>Nothing is live.</p>\n");
    } else {
        html.push_str(
            "<table>\n<tr><th>stream</th><th>uptime</th><th>kbps</th><th>viewers</th>\
             <th>watch</th><th>play</th></tr>\n",
        );
        for live in streams {
            let name = format!("{}/{}", live.app, live.stream);
            let urls = [
                format!("rtmp://{}/{name}", hosts.rtmp),
                format!("http://{}/{name}.flv", hosts.http),
                format!("http://{}/{name}.m3u8", hosts.http),
                format!("http://{}/{name}{PURE_AUDIO_SUFFIX}.flv", hosts.http),
                format!("http://{}/{name}{PURE_AUDIO_SUFFIX}.m3u8", hosts.http),
            ];
            let viewers = &live.viewers;
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{:.0} s</td><td>{:.0}</td><td>{} RTMP, {} FLV, {} HLS</td>\
                 <td><a href=\"/{}.html\">watch</a></td><td>",
                escape(&name),
                live.uptime_s,
                live.bitrate_kbps,
                viewers.rtmp,
                viewers.flv,
                viewers.hls,
                escape(&name),
            );
            for url in urls {
                let url = escape(&url);
                let _ = write!(html, "<a href=\"{url}\">{url}</a><br>");
            }
            html.push_str("</td></tr>\n");
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(stream: &str) -> LiveStream {
        LiveStream {
            app: "live".into(),
            stream: stream.into(),
            publisher: None,
            video: None,
            audio: None,
            bitrate_kbps: 0.0,
            uptime_s: 1.0,
            viewers: Default::default(),
        }
    }

    #[test]
    fn the_index_page_escapes_names_and_links_every_kind_of_url() {
        let hosts = PlayHosts {
            rtmp: "h:1935".into(),
            http: "h:8080".into(),
        };
        let html = index_page(&[live("<b>")], &hosts);
        assert!(html.contains("live/&lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(html.contains("http://h:8080/live/&lt;b&gt;.flv"));
        let html = index_page(&[live("room")], &hosts);
        for url in [
            "rtmp://h:1935/live/room",
            "http://h:8080/live/room.m3u8",
            "http://h:8080/live/room_pureAudio.m3u8",
            "http://h:8080/live/room_pureAudio.flv",
            "href=\"/live/room.html\"",
        ] {
            assert!(html.contains(url), "{url} missing from {html}");
        }
        assert!(index_page(&[], &hosts).contains("Nothing is live"));
    }

    #[test]
    fn the_watch_page_names_its_stream_and_keeps_a_state_element() {
        let html = watch_page("live", "a&b");
        assert!(html.contains("live/a&amp;b"));
        assert!(!html.contains("{{NAME}}"));
        assert!(html.contains("id=\"state\""));
        assert!(html.contains("<video id=\"video\" muted autoplay playsinline"));
        // Nothing fetched from elsewhere: every script is inline.
        assert!(!html.contains("<script src"));
    }
}
