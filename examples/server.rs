//! The server: the embedded RTMP server from code, with its statistics.
//!
//! Starts the server on 127.0.0.1:1935 (or the port given), then prints
//! how many connections and streams it has every five seconds until
//! killed. Push to it with `liveroom push --url rtmp://127.0.0.1/live/room1`
//! and play with `liveroom play --url rtmp://127.0.0.1/live/room1`.
//! (`liveroom serve` is the full tool: bind address, key, limits.)
//!
//! ```text
//! cargo run --release --example server -- 1935
//! ```

use std::error::Error;
use std::time::Duration;

use liveroom::rtmp::{RtmpServer, ServerConfig, DEFAULT_PORT};

fn main() -> Result<(), Box<dyn Error>> {
    let port = match std::env::args().nth(1) {
        Some(text) => text.parse()?,
        None => DEFAULT_PORT,
    };
    // Loopback only; `config.bind` takes 0.0.0.0 to open it to the network,
    // `config.anti_leech_key` makes every publish and play signed.
    let config = ServerConfig::loopback(port);
    let server = RtmpServer::start(config)?;
    println!("rtmp listening on {}", server.local_addr());
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let stats = server.stats();
        let players: usize = stats.players.values().sum();
        println!(
            "{} connection(s); live: {:?}; {players} player(s); {} messages relayed",
            stats.connections, stats.publishing, stats.messages_relayed
        );
    }
}
