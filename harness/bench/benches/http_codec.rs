//! Cost of the shared HTTP/1.1 codec every core runs per request:
//! parsing a ~300-byte browser-like request head
//! (`pb_http::RequestHead::parse`) and finding the end of a
//! chunked body (`pb_http::BodyDecoder`), fed whole and in
//! 1 KiB reads as a socket would deliver it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use pb_bench::http_input::{BROWSER_GET, chunked_body};
use pb_http::{BodyDecoder, Framing, Limits, RequestHead};

fn bench_head(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("http/request-head");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900))
        .throughput(Throughput::Bytes(BROWSER_GET.len() as u64));
    group.bench_function(format!("parse-{}B-get", BROWSER_GET.len()), |b| {
        b.iter(|| {
            let parsed = RequestHead::parse(black_box(BROWSER_GET), &limits);
            black_box(parsed.expect("valid head").expect("complete head"))
        })
    });
    group.finish();
}

fn bench_chunked(c: &mut Criterion) {
    let mut group = c.benchmark_group("http/chunked-body");
    group
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(900));
    for (chunks, size) in [(1usize, 100usize), (16, 1024)] {
        let body = chunked_body(chunks, size);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("{chunks}x{size}B-whole"), |b| {
            b.iter(|| {
                let mut dec = BodyDecoder::new(Framing::Chunked);
                let p = dec.feed(black_box(&body)).expect("valid body");
                assert!(p.done);
                black_box(dec.payload())
            })
        });
        group.bench_function(format!("{chunks}x{size}B-1KiB-reads"), |b| {
            b.iter(|| {
                let mut dec = BodyDecoder::new(Framing::Chunked);
                for read in black_box(&body).chunks(1024) {
                    dec.feed(read).expect("valid body");
                }
                assert!(dec.is_done());
                black_box(dec.payload())
            })
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_head(&mut criterion);
    bench_chunked(&mut criterion);
    criterion.final_summary();
}
