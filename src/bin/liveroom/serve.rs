//! `liveroom serve`: the embedded RTMP server on its own. Publishers and
//! players meet by stream name, as with nginx-rtmp's `live` application.
//! With `--http-port` it also serves HTTP-FLV, `/api/streams` and `/`.
//! It prints `rtmp listening on ADDR` (then `http listening on ADDR`) once
//! it accepts connections and runs until killed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;
use liveroom::rtmp::{RtmpServer, ServerConfig, DEFAULT_PORT};

use crate::args;
use crate::Failure;

/// `liveroom serve` flags.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// RTMP port (0 takes any free port).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Also serve HTTP on this port (0 takes any free port): HTTP-FLV at
    /// /APP/STREAM.flv, the live streams at / and /api/streams.
    #[arg(long, value_name = "N")]
    http_port: Option<u16>,
    /// Address to listen on: 127.0.0.1 keeps it to this machine, 0.0.0.0
    /// opens it to the network.
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Require txSecret/txTime anti-leech signatures made with this key for
    /// every publish and play.
    #[arg(long, value_name = "KEY", value_parser = args::key)]
    key: Option<String>,
    /// Most connections at once (1 to 100000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_connections: Option<u32>,
}

/// Runs `liveroom serve` until the process is killed.
pub fn run(args: ServeArgs) -> Result<(), Failure> {
    let mut config = ServerConfig::loopback(args.port);
    config.bind = SocketAddr::new(args.bind, args.port);
    config.http_bind = args.http_port.map(|port| SocketAddr::new(args.bind, port));
    config.anti_leech_key = args.key;
    if let Some(max) = args.max_connections {
        config.max_connections = max as usize;
    }
    let server = RtmpServer::start(config).map_err(Failure::run)?;
    println!("rtmp listening on {}", server.local_addr());
    if let Some(addr) = server.http_addr() {
        println!("http listening on {addr}");
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
