//! `liveroom url`: the plugin's "assemble your live URLs" step. From a
//! host, an application and a stream name, print the push URL and every
//! play URL the server offers, signed with the anti-leech key when one is
//! given.

use std::time::{Duration, SystemTime};

use clap::Args;
use liveroom::rtmp::DEFAULT_PORT;
use liveroom::urls::{LiveUrls, StreamAddress};

use crate::args;
use crate::Failure;

/// `liveroom url` flags.
#[derive(Args, Debug)]
pub struct UrlArgs {
    /// The stream name.
    #[arg(long, value_name = "NAME")]
    stream: String,
    /// The server's host name or address, as viewers reach it.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    host: String,
    /// The server's RTMP port.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PORT)]
    port: u16,
    /// The server's HTTP port: adds the HTTP-FLV play URLs.
    #[arg(long, value_name = "N")]
    http_port: Option<u16>,
    /// The application name.
    #[arg(long, value_name = "APP", default_value = "live")]
    app: String,
    /// Sign every URL with this anti-leech key (txSecret/txTime).
    #[arg(long, value_name = "KEY", value_parser = args::key)]
    key: Option<String>,
    /// How long the signatures stay valid, in seconds.
    #[arg(long, value_name = "S", default_value = "3600", value_parser = args::expire)]
    expire: Duration,
    /// Print the URLs as one JSON object instead of lines for people.
    #[arg(long)]
    json: bool,
}

/// Runs `liveroom url`.
pub fn run(args: UrlArgs) -> Result<(), Failure> {
    let mut address = StreamAddress::new(&args.host, args.port, &args.app, &args.stream)
        .map_err(Failure::usage)?;
    if let Some(port) = args.http_port {
        address = address.with_http_port(port).map_err(Failure::usage)?;
    }
    let expires = SystemTime::now() + args.expire;
    let urls = LiveUrls::new(&address, args.key.as_deref().map(|key| (key, expires)))
        .map_err(Failure::usage)?;
    if args.json {
        println!("{}", serde_json::to_string(&urls).map_err(Failure::run)?);
        return Ok(());
    }
    println!("push  {}", urls.push);
    for play in &urls.play {
        println!("play  {}  ({})", play.url, play.kind.describe());
    }
    Ok(())
}
