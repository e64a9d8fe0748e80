//! The embedded RTMP server on its own: publishers and players meet by
//! stream name, as with nginx-rtmp's `live` application.
//!
//! ```text
//! cargo run --release --example server -- --port 1935 --key SECRET
//! ```
//!
//! Flags: `--port N` (default 1935; 0 takes any free port) `--bind ADDR`
//! (default 127.0.0.1: loopback only; `0.0.0.0` opens it to the network)
//! `--key KEY` (require `txSecret`/`txTime` anti-leech signatures made
//! with KEY for every publish and play) `--max-connections N`.
//! It prints `listening on ADDR` on stdout once it accepts connections and
//! runs until killed. A bad value prints one line on stderr and exits with
//! status 2; a port that cannot be bound exits with 1.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use liveroom::rtmp::{RtmpServer, ServerConfig};

fn parse_options(args: impl Iterator<Item = String>) -> Result<ServerConfig, String> {
    let mut config = ServerConfig::loopback(liveroom::rtmp::DEFAULT_PORT);
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => {
                let text = value()?;
                let port: u16 = text
                    .parse()
                    .map_err(|_| format!("--port {text:?}: expected a port from 0 to 65535"))?;
                config.bind.set_port(port);
            }
            "--bind" => {
                let text = value()?;
                let ip: IpAddr = text
                    .parse()
                    .map_err(|_| format!("--bind {text:?}: expected an IP address"))?;
                config.bind = SocketAddr::new(ip, config.bind.port());
            }
            "--key" => {
                let key = value()?;
                if key.is_empty() {
                    return Err("--key: the anti-leech key is empty".into());
                }
                config.anti_leech_key = Some(key);
            }
            "--max-connections" => {
                let text = value()?;
                config.max_connections = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or_else(|| {
                        format!("--max-connections {text:?}: expected a number from 1 to 100000")
                    })?;
            }
            "--help" | "-h" => {
                return Err(
                    "usage: server [--port N] [--bind ADDR] [--key KEY] [--max-connections N]"
                        .into(),
                )
            }
            other => return Err(format!("unknown flag {other:?} (try --help)")),
        }
    }
    Ok(config)
}

fn main() -> ExitCode {
    let config = match parse_options(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("server: {message}");
            return ExitCode::from(2);
        }
    };
    let server = match RtmpServer::start(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("server: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on {}", server.local_addr());
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
