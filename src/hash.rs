//! The operator's short, name-safe hashes: FNV-1a (32 bit) of a string, printed in decimal, each
//! digit mapped through the alphabet of `rand.SafeEncodeString`. Used for DRA claim and
//! ResourceClaimTemplate names, which must be reproduced exactly.

const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a, 32 bit.
pub fn fnv1a32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `H(s)`: the safe-encoded decimal FNV-1a hash, at most 12 characters.
pub fn short_hash(s: &str) -> String {
    fnv1a32(s.as_bytes())
        .to_string()
        .bytes()
        .take(12)
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::short_hash;

    #[test]
    fn operator_test_vectors() {
        assert_eq!(short_hash("test-service"), "8568b4fb55");
        assert_eq!(short_hash("test-claim"), "9f8c8d9fb");
        assert_eq!(short_hash("test-template"), "5cb744997d");
        assert_eq!(short_hash("test-claim-1"), "6454fc76cd");
        assert_eq!(short_hash("test-nimservice"), "6bb8bf548c");
        assert_eq!(short_hash("dra"), "7d6cbd8786");
        assert_eq!(short_hash("meta-llama3-2-1b-instruct"), "6f49c65b4c");
        assert_eq!(short_hash("claimtemplate-6f49c65b4c-0"), "55478b69d5");
    }
}
