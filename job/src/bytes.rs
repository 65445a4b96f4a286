//! Byte copies and compares of short slices without the C library's `memcpy` and `memcmp`. For a length the
//! compiler does not know, `extend_from_slice` and `==` call them, and musl's (the static binaries') are slow for
//! a few bytes: `memcpy` aligns byte by byte and starts a `rep movsq`, `memcmp` compares byte by byte. A row makes
//! ~25 such copies and a record a few compares (callgrind on the drain, BENCHMARKS.md); here a slice of up to 64
//! bytes is moved and compared in pieces of a fixed size, which the compiler inlines.

/// Appends `bytes`. A slice of up to 64 bytes (nearly every key and value of a row) is copied by two overlapping
/// moves of a fixed size, which the compiler inlines, where `extend_from_slice` calls the C library's `memcpy` for a
/// length it does not know: musl's (the static binaries') aligns byte by byte and starts a `rep movsq`, ~35
/// instructions for a 20-byte key, and a row makes ~25 such copies (BENCHMARKS.md).
#[inline(always)]
pub fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    match bytes.len() {
        0..4 => bytes.iter().for_each(|&b| out.push(b)),
        4..8 => push_overlapping::<4>(out, bytes),
        8..16 => push_overlapping::<8>(out, bytes),
        16..32 => push_overlapping::<16>(out, bytes),
        32..=64 => push_overlapping::<32>(out, bytes),
        _ => out.extend_from_slice(bytes),
    }
}

/// [`push_bytes`] of `N..=2N` bytes: the first `N` bytes, then the last `N` written over the end of the first.
/// Room for both is made first, so the compiler sees that neither copy grows the vector (without that reserve, it
/// called `memcpy` again: callgrind, BENCHMARKS.md).
#[inline(always)]
fn push_overlapping<const N: usize>(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len();
    debug_assert!((N..=2 * N).contains(&n));
    let head: &[u8; N] = bytes[..N].try_into().expect("at least N bytes");
    let tail: &[u8; N] = bytes[n - N..].try_into().expect("at least N bytes");
    out.reserve(2 * N);
    let at = out.len();
    out.extend_from_slice(head);
    out.truncate(at + n - N);
    out.extend_from_slice(tail);
}

/// Eight bytes as a number.
#[inline(always)]
pub fn word(eight: &[u8]) -> u64 {
    u64::from_le_bytes(eight.try_into().expect("eight bytes"))
}

/// Four bytes as a number.
#[inline(always)]
fn word4(four: &[u8]) -> u32 {
    u32::from_le_bytes(four.try_into().expect("four bytes"))
}

/// Whether `a` and `b` hold the same bytes: up to sixteen bytes as two overlapping numbers each.
#[inline(always)]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    n == b.len()
        && match n {
            0..4 => a.iter().zip(b).all(|(x, y)| x == y),
            4..=8 => word4(&a[..4]) == word4(&b[..4]) && word4(&a[n - 4..]) == word4(&b[n - 4..]),
            9..=16 => word(&a[..8]) == word(&b[..8]) && word(&a[n - 8..]) == word(&b[n - 8..]),
            _ => a == b,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Appending by overlapping moves gives what `extend_from_slice` gives, at every length and after any prefix.
        #[test]
        fn push_bytes_appends_the_bytes(
            prefix in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..150),
        ) {
            let mut out = prefix.clone();
            push_bytes(&mut out, &bytes);
            let mut expected = prefix;
            expected.extend_from_slice(&bytes);
            proptest::prop_assert_eq!(out, expected);
        }
    }

    proptest::proptest! {
        /// The compare by numbers agrees with `==`, for equal slices and for slices that differ in one byte.
        #[test]
        fn same_bytes_is_equality(
            a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            at in 0usize..40,
            b in proptest::prelude::any::<u8>(),
            shorter in proptest::prelude::any::<bool>(),
        ) {
            proptest::prop_assert!(same_bytes(&a, &a.clone()));
            let mut c = a.clone();
            if shorter {
                c.pop();
            } else if !c.is_empty() {
                let at = at % c.len();
                c[at] = b;
            }
            proptest::prop_assert_eq!(same_bytes(&a, &c), a == c);
        }
    }
}
