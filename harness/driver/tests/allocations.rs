//! The driver's per-response work allocates nothing: on a small machine
//! the driver shares CPUs with the proxy it measures, and an allocation
//! per response would be driver cost charged to no one. Counted with the
//! counting allocator over many verified responses, fed both whole and
//! split inside the head (the path that gathers a head across reads).

use pb_driver::http::{HttpReader, HttpWorkload};
use pb_wire::pattern::body_byte;

#[global_allocator]
static ALLOC: pb_alloc::CountingAlloc = pb_alloc::CountingAlloc::counting();

const RESPONSES: usize = 1000;

fn response(len: usize) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {len}\r\nvia: 1.1 proxybench\r\nx-extra: 1\r\n\r\n"
    )
    .into_bytes();
    r.extend((0..len as u64).map(body_byte));
    r
}

#[test]
fn verifying_a_response_allocates_nothing_in_steady_state() {
    let workload = HttpWorkload::get(100);
    let one = response(100);
    let mut reader = HttpReader::new(&workload);
    let (mut ok, mut bad) = (0usize, 0usize);
    let mut feed = |reader: &mut HttpReader, bytes: &[u8]| {
        reader
            .feed(bytes, 1, |verdict| match verdict {
                Ok(_) => ok += 1,
                Err(_) => bad += 1,
            })
            .unwrap();
    };
    // Warm up: the head buffer grows once, on the first split head.
    feed(&mut reader, &one[..10]);
    feed(&mut reader, &one[10..]);
    let before = ALLOC.totals();
    for i in 0..RESPONSES {
        if i % 2 == 0 {
            feed(&mut reader, &one);
        } else {
            feed(&mut reader, &one[..20]);
            feed(&mut reader, &one[20..]);
        }
    }
    let allocations = ALLOC.totals().since(before).allocations;
    assert_eq!((ok, bad), (RESPONSES + 1, 0));
    assert_eq!(
        allocations, 0,
        "{allocations} allocations for {RESPONSES} responses"
    );
}
