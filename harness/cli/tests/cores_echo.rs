//! Every registered core, as a real process on real sockets: byte-exact
//! echo from 1 B to 256 KiB over concurrent connections, half-close in both
//! directions, and a graceful stop on SIGTERM.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::time::Duration;

use pb_process::{CoreCommand, CoreProcess, StartError};
use pb_sys::CpuSet;

mod common;

use common::EXE;

const SIZES: &[usize] = &[
    1,
    2,
    100,
    1024,
    4095,
    16 * 1024,
    16 * 1024 + 1,
    65_536,
    256 * 1024,
];
const CONNECTIONS: usize = 4;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn start(core: &str) -> Option<CoreProcess> {
    let cpus = CpuSet::allowed().unwrap();
    let cmd = CoreCommand {
        exe: Path::new(EXE),
        core,
        scenario: "echo",
        threads: 2,
        cpus: &cpus,
        spin_iters: 0,
        config: None,
        program_config_out: None,
        extra_args: &[],
        listen: pb_process::LOOPBACK,
    };
    match CoreProcess::start(&cmd) {
        Ok(p) => Some(p),
        Err(StartError::Unavailable(reason)) => {
            // Availability itself is tested in the registry and CLI tests.
            eprintln!("skipping {core}: unavailable here: {reason}");
            None
        }
        Err(e) => panic!("{core}: {e}"),
    }
}

fn connect(process: &CoreProcess) -> TcpStream {
    let stream = TcpStream::connect(process.addr()).unwrap();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

fn payload(seed: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(31) ^ seed.wrapping_mul(131)) as u8)
        .collect()
}

/// Writes `data` from a second thread while reading the echo here, so a
/// payload larger than the socket buffers cannot deadlock.
fn echo_once(stream: &TcpStream, data: &[u8]) -> Vec<u8> {
    let mut writer = stream.try_clone().unwrap();
    let to_send = data.to_vec();
    let sender = std::thread::spawn(move || writer.write_all(&to_send));
    let mut back = vec![0u8; data.len()];
    (&*stream).read_exact(&mut back).unwrap();
    sender.join().unwrap().unwrap();
    back
}

/// Every registered core that serves echo (the reference proxies do not).
fn echo_cores() -> Vec<&'static str> {
    pb_cores::CORES
        .iter()
        .map(|c| c.info())
        .filter(|i| i.scenarios.contains(&pb_core::Scenario::Echo))
        .map(|i| i.name)
        .collect()
}

fn for_each_core(test: impl Fn(&str, &CoreProcess)) {
    for name in echo_cores() {
        if let Some(process) = start(name) {
            test(name, &process);
            let exit = process.stop(Duration::from_secs(10));
            assert!(
                exit.starts_with("exit 0"),
                "{name} did not stop cleanly: {exit}"
            );
        }
    }
}

#[test]
fn echoes_every_size_byte_exact_over_concurrent_connections() {
    for_each_core(|name, process| {
        std::thread::scope(|scope| {
            for conn in 0..CONNECTIONS {
                scope.spawn(move || {
                    let stream = connect(process);
                    // Several sizes on one connection: framing must not
                    // depend on the connection being fresh.
                    for &size in SIZES {
                        let data = payload(conn * 1000 + size, size);
                        let back = echo_once(&stream, &data);
                        assert!(
                            back == data,
                            "{name}: {size} B on connection {conn} came back altered"
                        );
                    }
                });
            }
        });
    });
}

#[test]
fn client_half_close_delivers_every_byte_then_a_clean_eof() {
    for_each_core(|name, process| {
        for &size in &[1, 1000, 256 * 1024] {
            let mut stream = connect(process);
            let data = payload(size, size);
            let mut writer = stream.try_clone().unwrap();
            let sent = data.clone();
            let sender = std::thread::spawn(move || {
                writer.write_all(&sent)?;
                // FIN from the client while the reply is still in flight.
                writer.shutdown(Shutdown::Write)
            });
            let mut back = Vec::new();
            // read_to_end succeeds only on a FIN; a reset is an error.
            stream
                .read_to_end(&mut back)
                .unwrap_or_else(|e| panic!("{name}: {size} B: expected EOF, got {e}"));
            sender.join().unwrap().unwrap();
            assert!(
                back == data,
                "{name}: {size} B: {} bytes came back",
                back.len()
            );
        }
    });
}

#[test]
fn core_keeps_its_write_side_open_until_the_client_closes() {
    for_each_core(|name, process| {
        let mut stream = connect(process);
        assert_eq!(echo_once(&stream, b"first"), b"first");
        // Nothing more is due: the read must time out, not see EOF.
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        let outcome = loop {
            match stream.read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        match outcome {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("{name}: core closed or sent data unprompted: {other:?}"),
        }
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        // Still a working echo afterwards, and a FIN still ends it cleanly.
        assert_eq!(echo_once(&stream, b"second"), b"second");
        stream.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "{name}: unexpected bytes after FIN: {rest:?}"
        );
    });
}

#[test]
fn sigterm_stops_accepting_but_lets_open_connections_finish() {
    for name in echo_cores() {
        let Some(process) = start(name) else { continue };
        let addr = process.addr();
        let stream = connect(&process);
        assert_eq!(echo_once(&stream, b"before"), b"before");
        let pid = nix::unistd::Pid::from_raw(process.pid() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        // The stop flag is polled every 25 ms; give it a few polls.
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
            "{name}: still accepting after SIGTERM"
        );
        assert_eq!(
            echo_once(&stream, b"during drain"),
            b"during drain",
            "{name}"
        );
        drop(stream);
        let exit = process.stop(Duration::from_secs(10));
        assert!(exit.starts_with("exit 0"), "{name}: {exit}");
    }
}
