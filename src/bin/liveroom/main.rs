//! `liveroom`: push a camera-like source through the beauty effects and
//! x264 over RTMP, play a stream back and check it, run the embedded
//! server, try the effects on a picture, and assemble a stream's URLs.
//!
//! Each subcommand lives in its own file; this one parses the command line
//! and turns a subcommand's failure into its one stderr line and exit
//! status: 2 for a bad flag or unusable input found before running, 1 for a
//! failure while running.

mod args;
mod backdrop;
mod contact_sheet;
mod effects;
mod play;
mod progress;
mod push;
mod serve;
mod url;

use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Parser, Subcommand};

/// Live video with beauty effects: push, play, serve.
#[derive(Parser)]
#[command(
    name = "liveroom",
    version,
    about = "Live video with beauty effects: push over RTMP, play back and verify, serve.",
    long_about = "Live video with beauty effects: push over RTMP, play back and verify, serve.\n\n\
        Without arguments, `liveroom push` is the main job: the stamped test source through the \
        effect chain and x264, pushed to the built-in server, played back and checked frame by frame.",
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push a source with beauty effects over RTMP (without --url: to the
    /// built-in server, played back and verified).
    Push(Box<push::PushArgs>),
    /// Play an RTMP stream or an FLV file, decode it and report what arrived.
    Play(Box<play::PlayArgs>),
    /// Run the embedded RTMP server.
    Serve(serve::ServeArgs),
    /// Apply the beauty effects to a picture and save a PNG.
    Effects(effects::EffectsArgs),
    /// Print a stream's push URL and every play URL, signed with the
    /// anti-leech key.
    Url(url::UrlArgs),
}

/// How a subcommand failed.
#[derive(Debug)]
pub enum Failure {
    /// A bad flag or unusable input, found before anything ran (status 2).
    Usage(String),
    /// A failure while running (status 1).
    Run(String),
}

impl Failure {
    /// A usage failure from anything that displays.
    pub fn usage(error: impl std::fmt::Display) -> Self {
        Failure::Usage(error.to_string())
    }

    /// A run-time failure from anything that displays.
    pub fn run(error: impl std::fmt::Display) -> Self {
        Failure::Run(error.to_string())
    }
}

/// A sink for an optional output path, made before anything runs: a path
/// that cannot be written is status 2.
pub fn optional_sink<T>(
    path: Option<&std::path::Path>,
    open: impl FnOnce(&std::path::Path) -> Result<T, liveroom::sinks::SinkError>,
) -> Result<Option<T>, Failure> {
    path.map(open).transpose().map_err(Failure::usage)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return parse_failure(error),
    };
    let (name, result) = match cli.command {
        Command::Push(args) => ("push", push::run(*args)),
        Command::Play(args) => ("play", play::run(*args)),
        Command::Serve(args) => ("serve", serve::run(args)),
        Command::Effects(args) => ("effects", effects::run(args)),
        Command::Url(args) => ("url", url::run(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("liveroom {name}: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("liveroom {name}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go out as clap writes them; a bad command line becomes
/// one line on stderr and status 2.
fn parse_failure(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            return ExitCode::from(error.exit_code() as u8);
        }
        _ => {}
    }
    let context = |kind| match error.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        _ => None,
    };
    let line = match (error.kind(), context(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(flag)) => format!("unknown flag {flag:?} (try --help)"),
        (ErrorKind::MissingRequiredArgument, _) => match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(flags)) => {
                format!("{} is required (try --help)", flags.join(", "))
            }
            _ => "a required flag is missing (try --help)".to_string(),
        },
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        }
    };
    eprintln!("liveroom: {line}");
    ExitCode::from(2)
}
