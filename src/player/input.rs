//! [`Input`]: where the play loop's stream messages come from, an RTMP
//! connection, an HTTP-FLV connection or an FLV file read tag by tag.

use std::fs::File;
use std::io::BufReader;
use std::time::Duration;

use super::http_flv::HttpFlvClient;
use crate::flv::{self, FlvReader, FlvTag, TagKind};
use crate::rtmp::play::{PlayClient, PlayError, PlayMessage};

/// Where stream messages come from.
pub(super) enum Input {
    Rtmp(PlayClient),
    Http(HttpFlvClient),
    File {
        reader: FlvReader<BufReader<File>>,
        ended: bool,
    },
}

impl Input {
    pub(super) fn next(&mut self, wait: Duration) -> Result<Option<PlayMessage>, PlayError> {
        match self {
            Input::Rtmp(client) => client.recv_timeout(wait),
            Input::Http(client) => client.recv_timeout(wait),
            Input::File { reader, ended } => loop {
                if *ended {
                    std::thread::sleep(wait);
                    return Ok(None);
                }
                let tag = match reader.next_tag() {
                    Ok(Some(tag)) => tag,
                    Ok(None) | Err(_) => {
                        // A truncated tail ends the file like its end does.
                        *ended = true;
                        return Ok(Some(PlayMessage::StreamEnd));
                    }
                };
                match play_message(tag) {
                    Some(message) => return Ok(Some(message)),
                    None => continue,
                }
            },
        }
    }
}

/// What an FLV tag is to the player: a picture, sound or the metadata;
/// `None` for a script tag that is not readable metadata (skipped).
pub(super) fn play_message(tag: FlvTag) -> Option<PlayMessage> {
    Some(match tag.kind {
        TagKind::Video => PlayMessage::Video {
            timestamp_ms: tag.timestamp_ms,
            body: tag.body,
        },
        TagKind::Audio => PlayMessage::Audio {
            timestamp_ms: tag.timestamp_ms,
            body: tag.body,
        },
        TagKind::Script => PlayMessage::Metadata(flv::parse_stream_metadata(&tag.body).ok()?),
    })
}
