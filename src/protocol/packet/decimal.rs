//! Decimal numbers in packet fields and admin lines: the parsers, strict for gearlet's own
//! decisions and lenient where gearmand is. The writer, [`Decimal`], is the crate's one decimal
//! writer (`crate::decimal`), re-exported here because replies are where it is used most.

pub use crate::decimal::Decimal;

/// Strict unsigned decimal: ASCII digits only, at least one, no sign or spaces, no overflow. For
/// gearlet's own decisions (timeouts, epochs, schedules) where a malformed number should be refused
/// rather than silently read as 0.
pub fn parse_decimal_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(v)
}

/// `atoi`/`strtoll`-like decimal, for byte compatibility where gearmand is lenient: leading
/// whitespace skipped, optional sign, digits up to the first non-digit, no digits = 0, saturating
/// instead of C's undefined overflow.
///
/// gearmand is lenient in: `maxqueue` sizes (`atoi`: `abc` = 0 = no limit, `12x` = 12),
/// SUBMIT_JOB_EPOCH (`strtoll`), and it reads STATUS_RES flags the same way.
pub fn parse_decimal_lenient(s: &[u8]) -> i64 {
    let mut rest = s;
    while let Some((&b, tail)) = rest.split_first() {
        // C isspace: space, \t, \n, \v, \f, \r.
        if b == b' ' || (b'\t'..=b'\r').contains(&b) {
            rest = tail;
        } else {
            break;
        }
    }
    let mut negative = false;
    if let Some((&b, tail)) = rest.split_first() {
        if b == b'-' || b == b'+' {
            negative = b == b'-';
            rest = tail;
        }
    }
    let mut v: i64 = 0;
    for &b in rest {
        if !b.is_ascii_digit() {
            break;
        }
        let digit = i64::from(b - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(digit)
        } else {
            v.saturating_mul(10).saturating_add(digit)
        };
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal_u64(b"0"), Some(0));
        assert_eq!(parse_decimal_u64(b"007"), Some(7));
        assert_eq!(parse_decimal_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal_u64(b"18446744073709551616"), None);
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1x",
            b"\x00\x00\x03\xe8",
        ] {
            assert_eq!(parse_decimal_u64(bad), None);
        }
        assert_eq!(parse_decimal_lenient(b""), 0);
        assert_eq!(parse_decimal_lenient(b"abc"), 0);
        assert_eq!(parse_decimal_lenient(b"12abc"), 12);
        assert_eq!(parse_decimal_lenient(b" \t-5"), -5);
        assert_eq!(parse_decimal_lenient(b"+5"), 5);
        assert_eq!(parse_decimal_lenient(b"- 5"), 0);
        assert_eq!(parse_decimal_lenient(b"99999999999999999999"), i64::MAX);
        assert_eq!(parse_decimal_lenient(b"-99999999999999999999"), i64::MIN);
        for v in [0, 1, 9, 10, 4730, u64::MAX] {
            assert_eq!(Decimal::new(v).as_bytes(), v.to_string().as_bytes());
        }
    }
}
