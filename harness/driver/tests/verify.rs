//! The driver against deliberately wrong servers: every fault is counted by
//! kind and never as a success, under each driver backend (epoll and
//! io_uring verify alike). The servers live only in this test.

use std::net::SocketAddr;
use std::time::Duration;

use pb_driver::{Backend, LoadReport, LoadSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

/// How a test server treats what it reads.
#[derive(Clone, Copy)]
enum Behaviour {
    /// A correct echo.
    Echo,
    /// Echoes, but flips one bit of every 1000th byte.
    Corrupt,
    /// Echoes each read, then one extra byte.
    Extra,
    /// Closes each connection after echoing 10 reads.
    CloseEarly,
}

/// Starts a server that treats what it reads as `behaviour` says.
fn server(behaviour: Behaviour) -> SocketAddr {
    common::server(move |mut stream| async move {
        let mut buf = vec![0u8; 4096];
        let mut position = 0u64;
        let mut reads = 0;
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let chunk = &mut buf[..n];
            if let Behaviour::Corrupt = behaviour {
                for (i, b) in chunk.iter_mut().enumerate() {
                    if (position + i as u64) % 1000 == 999 {
                        *b ^= 0x01;
                    }
                }
            }
            position += n as u64;
            if stream.write_all(chunk).await.is_err() {
                return;
            }
            if let Behaviour::Extra = behaviour {
                let _ = stream.write_all(b"!").await;
            }
            reads += 1;
            if let Behaviour::CloseEarly = behaviour
                && reads == 10
            {
                return;
            }
        }
    })
}

fn load(addr: SocketAddr, message_bytes: usize, in_flight: usize, backend: Backend) -> LoadReport {
    let spec = LoadSpec {
        backend,
        ..LoadSpec::closed_echo(
            addr,
            message_bytes,
            4,
            in_flight,
            Duration::from_millis(50),
            Duration::from_millis(300),
        )
    };
    let report = pb_driver::run(&spec, &mut |_| {}).unwrap();
    assert_eq!(report.backend, backend);
    // The books balance under every backend and fault.
    assert_eq!(report.unaccounted(), 0, "{backend}: {report:?}");
    report
}

#[test]
fn a_correct_echo_gives_requests_and_no_errors() {
    let addr = server(Behaviour::Echo);
    for backend in Backend::ALL {
        for (size, in_flight) in [(1, 1), (100, 1), (100, 8), (200_000, 2)] {
            let report = load(addr, size, in_flight, backend);
            let what = format!("{backend} {size} B x{in_flight}");
            assert!(report.requests > 0, "{what}: no requests");
            assert_eq!(report.errors.len(), 0, "{what}: {:?}", report.errors);
            assert_eq!(report.histogram.len(), report.requests);
        }
    }
}

#[test]
fn corrupted_bytes_are_mismatches_not_successes() {
    let addr = server(Behaviour::Corrupt);
    for backend in Backend::ALL {
        // 100-byte messages: one in ten carries a flipped bit.
        let report = load(addr, 100, 1, backend);
        let mismatches = report.errors.get("mismatch").copied().unwrap_or(0);
        assert!(mismatches > 0, "{backend}: {:?}", report.errors);
        // Intact replies are nine in ten; corrupted ones never count.
        let total = report.requests + mismatches;
        assert!(
            report.requests <= total * 95 / 100,
            "{backend}: {} successes of {total}: corrupted replies were counted",
            report.requests
        );
        assert_eq!(report.histogram.len(), report.requests);
    }
}

#[test]
fn bytes_nobody_sent_are_reported() {
    let addr = server(Behaviour::Extra);
    for backend in Backend::ALL {
        let report = load(addr, 100, 1, backend);
        assert!(
            report.errors.get("unexpected bytes").copied().unwrap_or(0) > 0,
            "{backend}: {:?}",
            report.errors
        );
    }
}

#[test]
fn a_server_that_hangs_up_early_costs_errors_and_the_driver_reconnects() {
    let addr = server(Behaviour::CloseEarly);
    for backend in Backend::ALL {
        let report = load(addr, 100, 1, backend);
        assert!(
            report.errors.get("eof before reply").copied().unwrap_or(0) > 0,
            "{backend}: {:?}",
            report.errors
        );
        // Each reconnection gets ten more answers, so work continues.
        assert!(
            report.requests > 40,
            "{backend}: only {} requests",
            report.requests
        );
    }
}

#[test]
fn an_unreachable_target_is_a_setup_error() {
    // Bind then drop: the port is almost surely closed now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let spec = LoadSpec::closed_echo(addr, 10, 1, 1, Duration::ZERO, Duration::from_millis(100));
    let err = pb_driver::run(&spec, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn window_edges_are_reported_in_order() {
    let addr = server(Behaviour::Echo);
    let spec = LoadSpec::closed_echo(
        addr,
        10,
        1,
        1,
        Duration::from_millis(20),
        Duration::from_millis(100),
    );
    let mut edges = Vec::new();
    pb_driver::run(&spec, &mut |edge| edges.push(edge)).unwrap();
    assert_eq!(
        edges,
        [pb_driver::WindowEdge::Start, pb_driver::WindowEdge::End]
    );
}
