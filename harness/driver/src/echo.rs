//! The echo workload: what each message contains and how a reply is
//! checked, byte for byte.
//!
//! Each connection has its own pseudo-random pattern; message `n` is a
//! window into it that starts at `n mod 251`, so consecutive messages
//! differ and a lost, repeated, reordered or altered byte is a mismatch.

/// Number of distinct message windows per connection (prime, so message
/// sizes rarely line up with it).
const WINDOWS: usize = 251;

/// The bytes a connection sends.
#[derive(Debug, Clone)]
pub struct EchoPattern {
    bytes: Vec<u8>,
    size: usize,
}

impl EchoPattern {
    /// The pattern of connection `conn_id` for messages of `size` bytes.
    pub fn new(conn_id: u64, size: usize) -> EchoPattern {
        // xorshift64*: cheap, and seeded per connection so two connections
        // crossing their streams would be caught.
        let mut state = conn_id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let bytes = (0..size + WINDOWS)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        EchoPattern { bytes, size }
    }

    /// Bytes per message.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Message number `seq`.
    pub fn message(&self, seq: u64) -> &[u8] {
        let start = (seq % WINDOWS as u64) as usize;
        &self.bytes[start..start + self.size]
    }
}

/// More bytes arrived than were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnexpectedBytes;

/// Checks the reply stream of one connection against its pattern.
#[derive(Debug, Default, Clone)]
pub struct EchoVerifier {
    seq: u64,
    offset: usize,
    corrupt: bool,
}

impl EchoVerifier {
    /// Feeds received bytes. `outstanding` is how many messages were sent
    /// and not yet completed (the one in progress included);
    /// `on_complete(intact)` is called once per completed message, in order.
    pub fn feed(
        &mut self,
        pattern: &EchoPattern,
        mut data: &[u8],
        outstanding: usize,
        mut on_complete: impl FnMut(bool),
    ) -> Result<(), UnexpectedBytes> {
        let mut left = outstanding;
        while !data.is_empty() {
            if left == 0 {
                return Err(UnexpectedBytes);
            }
            let expected = &pattern.message(self.seq)[self.offset..];
            let take = expected.len().min(data.len());
            if data[..take] != expected[..take] {
                self.corrupt = true;
            }
            self.offset += take;
            data = &data[take..];
            if self.offset == pattern.size() {
                on_complete(!self.corrupt);
                self.seq += 1;
                self.offset = 0;
                self.corrupt = false;
                left -= 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_messages_and_connections_differ() {
        let a = EchoPattern::new(1, 100);
        let b = EchoPattern::new(2, 100);
        assert_ne!(a.message(0), a.message(1));
        assert_ne!(a.message(0), b.message(0));
        assert_eq!(a.message(3), a.message(3 + WINDOWS as u64));
    }

    #[test]
    fn split_replies_verify_intact() {
        let p = EchoPattern::new(7, 10);
        let mut wire = p.message(0).to_vec();
        wire.extend_from_slice(p.message(1));
        let mut v = EchoVerifier::default();
        let mut done = Vec::new();
        for chunk in wire.chunks(3) {
            v.feed(&p, chunk, 2, |ok| done.push(ok)).unwrap();
        }
        assert_eq!(done, [true, true]);
    }

    #[test]
    fn a_flipped_byte_fails_only_its_message() {
        let p = EchoPattern::new(7, 10);
        let mut wire = p.message(0).to_vec();
        wire.extend_from_slice(p.message(1));
        wire[12] ^= 0x20;
        let mut done = Vec::new();
        EchoVerifier::default()
            .feed(&p, &wire, 2, |ok| done.push(ok))
            .unwrap();
        assert_eq!(done, [true, false]);
    }

    #[test]
    fn a_repeated_message_is_a_mismatch() {
        let p = EchoPattern::new(7, 10);
        let wire = [p.message(0), p.message(0)].concat();
        let mut done = Vec::new();
        EchoVerifier::default()
            .feed(&p, &wire, 2, |ok| done.push(ok))
            .unwrap();
        assert_eq!(done, [true, false]);
    }

    #[test]
    fn bytes_beyond_what_was_sent_are_reported() {
        let p = EchoPattern::new(7, 4);
        let wire = [p.message(0), &[0u8][..]].concat();
        let mut v = EchoVerifier::default();
        assert_eq!(v.feed(&p, &wire, 1, |_| {}), Err(UnexpectedBytes));
    }
}
