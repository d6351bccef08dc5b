//! The one u64 → decimal text writer, shared by every layer that prints numbers (the codec's
//! replies and admin lines, the core's job handles). It lives at the crate root, outside both
//! layers, and depends on nothing, so the core can use it without importing the protocol layer.

/// Decimal text of a u64 on the stack, so replies with numbers never allocate.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    /// u64::MAX has 20 digits.
    buf: [u8; 20],
    start: usize,
}

impl Decimal {
    /// Formats `v` without a sign or padding, as `%u` does.
    #[inline]
    pub fn new(mut v: u64) -> Self {
        let mut buf = [b'0'; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            if let Some(slot) = buf.get_mut(start) {
                // v % 10 < 10, so the cast cannot truncate.
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 || start == 0 {
                break;
            }
        }
        Decimal { buf, start }
    }

    /// The digits.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or(b"0")
    }
}

/// Appends the decimal digits of `v` to `out` (no sign, no padding), e.g. the job number of a
/// handle `H:host:42`.
#[inline]
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(Decimal::new(v).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_as_display_prints_them() {
        for v in [
            0,
            1,
            9,
            10,
            99,
            100,
            4730,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(Decimal::new(v).as_bytes(), v.to_string().as_bytes());
            let mut out = b"H:x:".to_vec();
            push_u64(&mut out, v);
            assert_eq!(out, format!("H:x:{v}").into_bytes());
        }
    }
}
