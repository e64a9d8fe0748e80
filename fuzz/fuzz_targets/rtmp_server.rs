//! Fuzzes the embedded RTMP server's input path over real TCP connections.
//!
//! One server (`ServerConfig::default()`: loopback, any free port) runs for
//! the whole fuzzing process. The first byte of an input picks how the rest
//! is sent on a new connection: one input in four goes out as is, so that
//! the handshake parser sees it; the others follow a valid client handshake
//! (C0 = 3, a 1536-byte C1, S0+S1+S2 read, S1 echoed as C2) and are parsed
//! as the chunk stream of an RTMP session. The client then shuts down its
//! write side and reads what the server answers until end of stream or a
//! short timeout.
//!
//! After every input the server must have released the connection (its
//! connection count back at zero) and must still complete a handshake on a
//! new connection: it may drop a peer, never go down or leak.
//!
//! The server catches panics of the `rml_rtmp` parser by design (the peer
//! is dropped). libFuzzer would abort on them, so a panic on a server
//! connection thread is reported on stderr instead, once per place, and,
//! when `RTMP_FUZZ_PANIC_DIR` is set, the input is saved there as
//! `panic-<hash>`. Whether the server really caught it is what the checks
//! above tell: a connection thread that dies of a panic never releases its
//! connection. A panic on any other thread aborts as usual.

#![no_main]

use std::backtrace::Backtrace;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::panic::{self, PanicHookInfo};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use liveroom::rtmp::{RtmpServer, ServerConfig};

/// Size of the handshake packets C1, S1, S2 and C2.
const PACKET: usize = 1536;
/// How long the client reads the server's answer after each read.
const READ_TIMEOUT: Duration = Duration::from_millis(200);
/// Longest time spent reading one answer in all.
const ANSWER_LIMIT: Duration = Duration::from_secs(2);
/// How long a check of the server may take before it counts as down.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The server under test, started before the first input.
static SERVER: OnceLock<RtmpServer> = OnceLock::new();
/// The input being run, for the panic hook to save.
static CURRENT_INPUT: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Hashes of the panic places already reported.
static REPORTED: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

libfuzzer_sys::fuzz_target!(init: start_server(), |data: &[u8]| {
    let Some((&mode, payload)) = data.split_first() else {
        return;
    };
    let server = SERVER.get().expect("the RTMP server starts in init");
    data.clone_into(&mut CURRENT_INPUT.lock().unwrap_or_else(PoisonError::into_inner));
    let addr = server.local_addr();
    if let Ok(mut socket) = connect(addr) {
        let sent = if mode % 4 == 0 {
            socket.write_all(payload)
        } else {
            handshake(&mut socket).and_then(|s1| {
                let mut c2_and_payload = s1;
                c2_and_payload.extend_from_slice(payload);
                socket.write_all(&c2_and_payload)
            })
        };
        if sent.is_ok() {
            let _ = socket.shutdown(Shutdown::Write);
            drain(&mut socket);
        }
    }
    let alive = connect(addr).and_then(|mut socket| handshake(&mut socket));
    if let Err(error) = alive {
        panic!("the RTMP server no longer completes a handshake: {error}");
    }
    let deadline = Instant::now() + CHECK_TIMEOUT;
    while server.stats().connections > 0 {
        assert!(
            Instant::now() < deadline,
            "the RTMP server still counts {} open connections after the peers left",
            server.stats().connections
        );
        thread::sleep(Duration::from_millis(1));
    }
});

/// Installs the panic hook described in the module docs on top of
/// libFuzzer's, and starts the server.
fn start_server() {
    let libfuzzer_hook = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let on_connection_thread = thread::current()
            .name()
            .is_some_and(|name| name.starts_with("rtmp-conn-"));
        if on_connection_thread {
            report_connection_panic(info);
        } else {
            libfuzzer_hook(info);
        }
    }));
    let server = RtmpServer::start(ServerConfig::default()).expect("the RTMP server starts");
    assert!(SERVER.set(server).is_ok(), "the RTMP server starts once");
}

/// Reports a panic on a connection thread once per place, saving the input.
fn report_connection_panic(info: &PanicHookInfo<'_>) {
    let place = panic_place(info);
    let mut hasher = DefaultHasher::new();
    place.hash(&mut hasher);
    let key = hasher.finish();
    let mut reported = REPORTED.lock().unwrap_or_else(PoisonError::into_inner);
    if !reported.get_or_insert_with(HashSet::new).insert(key) {
        return;
    }
    let mut note = format!("rtmp_server: a connection thread panicked in {place}: {info}");
    if let Some(dir) = std::env::var_os("RTMP_FUZZ_PANIC_DIR") {
        let dir = PathBuf::from(dir);
        let path = dir.join(format!("panic-{key:016x}"));
        let input = CURRENT_INPUT.lock().unwrap_or_else(PoisonError::into_inner);
        let saved = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &*input));
        note.push_str(&match saved {
            Ok(()) => format!("; input saved to {}", path.display()),
            Err(error) => format!("; cannot save the input to {}: {error}", path.display()),
        });
    }
    eprintln!("{note}");
}

/// Where a panic comes from: the innermost backtrace frame in the RTMP
/// crates (`rml_rtmp`, `rml_amf0`), which says more than a panic inside
/// `core` does, or else the panic's own location.
fn panic_place(info: &PanicHookInfo<'_>) -> String {
    let trace = Backtrace::force_capture().to_string();
    let in_rml = trace
        .lines()
        .filter_map(|line| line.trim().strip_prefix("at "))
        .find_map(|file| file.find("/rml_").map(|at| file[at + 1..].to_string()));
    in_rml.unwrap_or_else(|| {
        info.location().map_or_else(String::new, |l| {
            format!("{}:{}:{}", l.file(), l.line(), l.column())
        })
    })
}

/// A connection to the server with every timeout set.
fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpStream::connect_timeout(&addr, CHECK_TIMEOUT)?;
    socket.set_nodelay(true)?;
    socket.set_read_timeout(Some(CHECK_TIMEOUT))?;
    socket.set_write_timeout(Some(CHECK_TIMEOUT))?;
    Ok(socket)
}

/// Sends C0 and C1, reads S0, S1 and S2; returns S1, the C2 to send.
fn handshake(socket: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut c0_c1 = vec![0u8; 1 + PACKET];
    c0_c1[0] = 3;
    // A C1 without a digest: the plain handshake of the RTMP specification.
    for (i, byte) in c0_c1.iter_mut().enumerate().skip(9) {
        *byte = (i % 251) as u8;
    }
    socket.write_all(&c0_c1)?;
    let mut answer = vec![0u8; 1 + 2 * PACKET];
    socket.read_exact(&mut answer)?;
    if answer[0] != 3 {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            format!("S0 is {}, expected 3", answer[0]),
        ));
    }
    Ok(answer[1..=PACKET].to_vec())
}

/// Reads the server's answer until end of stream, an error, or a pause.
fn drain(socket: &mut TcpStream) {
    if socket.set_read_timeout(Some(READ_TIMEOUT)).is_err() {
        return;
    }
    let start = Instant::now();
    let mut buffer = [0u8; 16 * 1024];
    while start.elapsed() < ANSWER_LIMIT {
        match socket.read(&mut buffer) {
            Ok(0) => return,
            Ok(_) => {}
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
