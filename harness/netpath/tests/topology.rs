//! Real namespaces, links and packets. Making them needs root: without it
//! each test prints why it was skipped and passes (CI runs as root, so
//! there they run).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use pb_netpath::{Emulation, LinkSpec, NetError, NetworkSpec, Role, Topology, ns};

fn skipped() -> bool {
    match pb_netpath::unavailable() {
        Some(why) => {
            eprintln!("skipped: {why}");
            true
        }
        None => false,
    }
}

/// Interfaces of the root namespace whose names are ours.
fn our_root_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .filter(|name| name.starts_with("pbclient") || name.starts_with("pborigin"))
        .map(String::from)
        .collect()
}

/// An echo of single bytes in the origin's namespace, `rounds` times.
fn byte_echo(topology: &Topology, rounds: usize) -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = {
        let _inside = topology.enter(Role::Origin).unwrap();
        TcpListener::bind((topology.addr(Role::Origin), 0)).unwrap()
    };
    let addr = listener.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut byte = [0u8; 1];
        for _ in 0..rounds {
            stream.read_exact(&mut byte).unwrap();
            stream.write_all(&byte).unwrap();
        }
    });
    (addr, echo)
}

/// Round trips of one byte from the driver's namespace to `addr`, sorted.
fn round_trips(topology: &Topology, addr: SocketAddr, rounds: usize) -> Vec<Duration> {
    let mut stream = {
        let _inside = topology.enter(Role::Driver).unwrap();
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap()
    };
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rtts: Vec<Duration> = (0..rounds)
        .map(|i| {
            let started = Instant::now();
            stream.write_all(&[i as u8]).unwrap();
            let mut back = [0u8; 1];
            stream.read_exact(&mut back).unwrap();
            assert_eq!(back[0], i as u8);
            started.elapsed()
        })
        .collect();
    rtts.sort();
    rtts
}

#[test]
fn a_delayed_client_link_adds_its_round_trip_and_nothing_is_left_behind() {
    if skipped() {
        return;
    }
    let rounds = 40;
    let spec = NetworkSpec {
        client: LinkSpec {
            delay_ms: 1.0,
            ..LinkSpec::default()
        },
        ..NetworkSpec::default()
    };
    let topology = Topology::create(&spec, None).unwrap();
    let names = topology.namespace_names();
    assert_eq!(names.len(), 3);
    assert_eq!(
        ns::namespaces_of(std::process::id())
            .iter()
            .filter(|n| names.contains(n))
            .count(),
        3
    );

    // The driver reaches the origin through the core's namespace: the
    // delayed client link twice per round trip (1 ms each way).
    let (addr, echo) = byte_echo(&topology, rounds);
    let rtts = round_trips(&topology, addr, rounds);
    echo.join().unwrap();
    let p50 = rtts[rounds / 2];
    assert!(
        p50 >= Duration::from_millis(2),
        "p50 round trip {p50:?} across a link of 1 ms each way"
    );

    let links = topology.links();
    assert_eq!(links[0].link, "client");
    assert!(
        matches!(links[0].emulation, Emulation::Netem | Emulation::Userspace),
        "{links:?}"
    );
    assert_eq!(links[1].emulation, Emulation::Plain);
    if links[0].emulation == Emulation::Userspace {
        // Each round trip is at least two packets each way (data, ack).
        assert!(links[0].delivered >= 2 * rounds as u64, "{links:?}");
        assert_eq!(links[0].lost + links[0].overflowed, 0, "{links:?}");
    }
    assert_eq!(topology.failure(), None);

    drop(topology);
    let left: Vec<String> = ns::namespaces_of(std::process::id())
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    assert!(
        our_root_links().is_empty(),
        "links left in the root namespace: {:?}",
        our_root_links()
    );
}

#[test]
fn a_plain_topology_is_no_slower_than_its_links_and_its_namespaces_are_apart() {
    if skipped() {
        return;
    }
    let topology = Topology::create(&NetworkSpec::default(), None).unwrap();
    assert!(
        topology
            .links()
            .iter()
            .all(|l| l.emulation == Emulation::Plain)
    );
    let (addr, echo) = byte_echo(&topology, 10);
    let rtts = round_trips(&topology, addr, 10);
    echo.join().unwrap();
    assert_eq!(rtts.len(), 10);
    // The origin's address means nothing outside the topology: from the
    // root namespace there is no route to it (or none that answers).
    let outside = TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(outside.is_err(), "reached {addr} from outside the topology");
}

#[test]
fn loss_drops_about_the_share_asked_and_is_counted() {
    if skipped() {
        return;
    }
    let spec = NetworkSpec {
        client: LinkSpec {
            loss_pct: 20.0,
            ..LinkSpec::default()
        },
        ..NetworkSpec::default()
    };
    let topology = Topology::create(&spec, None).unwrap();
    let receiver = {
        let _inside = topology.enter(Role::Core).unwrap();
        UdpSocket::bind((topology.addr(Role::Core), 0)).unwrap()
    };
    receiver
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let to = receiver.local_addr().unwrap();
    let sender = {
        let _inside = topology.enter(Role::Driver).unwrap();
        UdpSocket::bind((topology.addr(Role::Driver), 0)).unwrap()
    };
    // Read as they come (a socket buffer that filled up would drop
    // datagrams the link delivered), until none for half a second.
    let counting = std::thread::spawn(move || {
        let mut received = 0;
        let mut buf = [0u8; 16];
        while receiver.recv_from(&mut buf).is_ok() {
            received += 1;
        }
        received
    });
    let sent = 400;
    for i in 0..sent {
        sender.send_to(&(i as u32).to_be_bytes(), to).unwrap();
        // Paced, so no queue anywhere drops what the loss rate did not.
        std::thread::sleep(Duration::from_micros(200));
    }
    let received = counting.join().unwrap();
    // 20 % of 400: 80 lost on average, standard deviation 8.
    let lost = sent - received;
    assert!(
        (40..=120).contains(&lost),
        "{lost} of {sent} lost at 20 %: {:?}",
        topology.links()
    );
    let client = &topology.links()[0];
    if client.emulation == Emulation::Userspace {
        // Every datagram the receiver missed was dropped by the schedule
        // (the link carries little else: no ARP on TUN, no IPv6 in a
        // topology's namespaces).
        assert!(
            (lost as u64..=lost as u64 + 5).contains(&client.lost),
            "{lost} missed, {client:?}"
        );
    }
}

#[test]
fn two_topologies_live_side_by_side() {
    if skipped() {
        return;
    }
    let a = Topology::create(&NetworkSpec::default(), None).unwrap();
    let b = Topology::create(&NetworkSpec::default(), None).unwrap();
    let (na, nb) = (a.namespace_names(), b.namespace_names());
    assert!(na.iter().all(|n| !nb.contains(n)), "{na:?} {nb:?}");
    for t in [&a, &b] {
        let (addr, echo) = byte_echo(t, 3);
        assert_eq!(round_trips(t, addr, 3).len(), 3);
        echo.join().unwrap();
    }
}

#[test]
fn an_impossible_spec_makes_nothing_and_stale_namespaces_are_swept() {
    if skipped() {
        return;
    }
    let before = ns::namespaces_of(std::process::id());
    let bad = NetworkSpec {
        origin: LinkSpec {
            loss_pct: 100.0,
            ..LinkSpec::default()
        },
        ..NetworkSpec::default()
    };
    match Topology::create(&bad, None) {
        Err(NetError::Bad(why)) => assert!(why.contains("origin link: loss_pct"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(ns::namespaces_of(std::process::id()), before);

    // A namespace named for a process that is gone (killed before it
    // could clean up) goes at the next sweep.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let name = format!("pb-{dead}-0-driver");
    assert!(
        Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(ns::namespaces_of(dead), vec![name.clone()]);
    ns::sweep_stale();
    assert!(ns::namespaces_of(dead).is_empty(), "{name} was not swept");
}
