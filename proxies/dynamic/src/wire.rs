//! The form a request head crosses an engine boundary in (into a
//! WebAssembly module's memory, over the `ipc` socket): its request line
//! `METHOD SP TARGET LF`, then `name:value LF` per header in the order
//! received. Names and values are as parsed (no whitespace around the
//! value); a head whose value holds a line feed cannot be written and is
//! refused, never forwarded.

use pb_http::RequestHead;

/// Writes `head` into `out` (cleared first).
pub fn encode(head: &RequestHead, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    out.extend_from_slice(head.method().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target().as_bytes());
    out.push(b'\n');
    for header in head.headers() {
        if header.value.contains(&b'\n') {
            return Err(format!("header {:?} holds a line feed", header.name));
        }
        out.extend_from_slice(header.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(header.value);
        out.push(b'\n');
    }
    Ok(())
}
