//! The bytes of generated bodies and the digest over bodies, shared by the
//! origin (which makes them) and the driver (which checks them), so a
//! body is verified without being stored.

/// Byte `i` of every generated body.
pub fn body_byte(i: u64) -> u8 {
    (i.wrapping_mul(31).wrapping_add(7) % 251) as u8
}

/// Whether `bytes`, starting at body offset `at`, are the pattern.
pub fn matches(bytes: &[u8], at: u64) -> bool {
    bytes.iter().zip(at..).all(|(&b, i)| b == body_byte(i))
}

/// Initial state of [`digest`].
pub const DIGEST_SEED: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64, continued from `state`: bodies can be digested in pieces.
pub fn digest(bytes: &[u8], mut state: u64) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(0x100_0000_01b3);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_checks_from_any_offset() {
        let body: Vec<u8> = (0..1000).map(body_byte).collect();
        assert!(matches(&body[300..400], 300));
        assert!(!matches(&body[300..400], 301));
        assert_eq!(
            digest(&body[500..], digest(&body[..500], DIGEST_SEED)),
            digest(&body, DIGEST_SEED)
        );
    }
}
