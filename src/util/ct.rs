//! Equality that takes as long whatever the bytes, for values an attacker may be guessing.

use subtle::ConstantTimeEq as _;

/// Whether `a` and `b` hold the same bytes, compared in time that depends only on their
/// lengths (which are not secret: every value of a kind has the same length).
///
/// Every byte pair is folded into one difference, with no branch on the bytes (the
/// compiler turns the fold into 16-byte vector steps), and one optimisation barrier at the
/// end: `subtle`'s slice comparison puts a barrier on every byte, which made it the largest
/// single cost of a logged-in request.
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y));
    bool::from(diff.ct_eq(&0))
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn equal_only_when_every_byte_is() {
        let value = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123";
        assert!(same_bytes(value, value));
        assert!(same_bytes(b"", b""));
        assert!(same_bytes(b"abc", b"abc"));
        for i in 0..value.len() {
            let mut other = *value;
            other[i] ^= 1;
            assert!(!same_bytes(value, &other), "byte {i} differs");
        }
        assert!(!same_bytes(b"abc", b"abcd"));
        assert!(!same_bytes(b"abcdefgh", b"abcdefg"));
    }
}
