//! Callback signatures: hex SHA-1 over the sorted, concatenated token, timestamp and
//! nonce (and, in AES mode, the `Encrypt` value).
//! <https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html>

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// WeChat's rule for the callback Token an operator sets on the platform: 3 to 32
/// letters or digits.
pub fn token_format_ok(token: &str) -> bool {
    (3..=32).contains(&token.len()) && token.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Computes the signature WeChat sends for these parts (any number of them).
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    lower_hex(&hasher.finalize())
}

/// `bytes` in lowercase hex, as `hex::encode` writes them, but written into one buffer:
/// `hex::encode` collects its text a character at a time, and a push hashes twice.
pub fn lower_hex(bytes: &[u8]) -> String {
    let mut text = vec![0; bytes.len() * 2];
    hex::encode_to_slice(bytes, &mut text).expect("twice as long as the bytes");
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// True when `signature` is the one WeChat would send for `parts`. Compared in constant
/// time so the expected value cannot be learned byte by byte; case-insensitive because
/// the hex is hex.
pub fn verify(signature: &str, parts: &[&str]) -> bool {
    let expected = sign(parts);
    let given = signature.to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_sorted_parts() {
        // sorted: "1409304348" < "testtoken" < "xxxxxx" → sha1("1409304348testtokenxxxxxx")
        let expected = {
            let mut h = Sha1::new();
            h.update(b"1409304348testtokenxxxxxx");
            hex::encode(h.finalize())
        };
        assert_eq!(sign(&["testtoken", "1409304348", "xxxxxx"]), expected);
        assert_eq!(sign(&["xxxxxx", "testtoken", "1409304348"]), expected);
    }

    #[test]
    fn matches_a_digest_computed_by_another_implementation() {
        // Python: hashlib.sha1("".join(sorted(["token", "1409659813", "1372623149"])).encode())
        assert_eq!(
            sign(&["token", "1409659813", "1372623149"]),
            "74ec3ddbfdaa9e34666e94a046804051e80c7749"
        );
    }

    #[test]
    fn hex_is_written_as_the_hex_crate_writes_it() {
        for bytes in [&[][..], &[0], &[0xab, 0x01, 0xff, 0x10]] {
            assert_eq!(lower_hex(bytes), hex::encode(bytes));
        }
    }

    #[test]
    fn refuses_a_wrong_or_truncated_signature() {
        let good = sign(&["tok", "1", "2"]);
        assert!(verify(&good, &["tok", "1", "2"]));
        assert!(verify(&good.to_uppercase(), &["tok", "1", "2"]));
        assert!(!verify(&good[..39], &["tok", "1", "2"]));
        assert!(!verify("", &["tok", "1", "2"]));
        assert!(!verify(&good, &["tok", "1", "3"]));
    }
}
