//! Inputs for the HTTP codec benches: what a proxy parses most often.

/// A browser-like GET request head, 312 bytes: the request line, a
/// host, a long user agent, the usual accept headers and a cookie.
pub const BROWSER_GET: &[u8] = b"GET /catalog/items?page=2 HTTP/1.1\r\n\
Host: shop.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: sid=3f9a1c2e\r\n\
\r\n";

/// A chunked body of `chunks` chunks of `chunk_size` bytes each, then the
/// last chunk and an empty trailer section, as a client would send it.
pub fn chunked_body(chunks: usize, chunk_size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(chunks * (chunk_size + 16) + 5);
    for i in 0..chunks {
        body.extend_from_slice(format!("{chunk_size:x}\r\n").as_bytes());
        body.extend((0..chunk_size).map(|j| b'a' + ((i + j) % 26) as u8));
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb_http::{BodyDecoder, Framing, Limits, RequestHead};

    #[test]
    fn the_head_is_typical_and_parses() {
        assert!(
            (280..=330).contains(&BROWSER_GET.len()),
            "{}",
            BROWSER_GET.len()
        );
        let (head, used) = RequestHead::parse(BROWSER_GET, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(used, BROWSER_GET.len());
        assert_eq!(head.method(), "GET");
        assert_eq!(head.headers().count(), 7);
        assert!(head.keep_alive);
    }

    #[test]
    fn the_chunked_body_decodes_whole() {
        let body = chunked_body(16, 256);
        let mut dec = BodyDecoder::new(Framing::Chunked);
        let p = dec.feed(&body).unwrap();
        assert!(p.done);
        assert_eq!(p.consumed, body.len());
        assert_eq!(dec.payload(), 16 * 256);
    }
}
