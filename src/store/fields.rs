//! How the engines write the fields gearmand's tables have no column type for: a schedule as
//! text, a priority as gearmand's number. Shared so that every engine writes the same.

use crate::core::{Priority, Schedule};

/// `minute hour day-of-month month day-of-week`, `*` for any (cron's order).
pub(crate) fn sched_text(s: &Schedule) -> String {
    let f = |v: Option<u8>| v.map_or("*".to_string(), |v| v.to_string());
    format!(
        "{} {} {} {} {}",
        f(s.minute),
        f(s.hour),
        f(s.day_of_month),
        f(s.month),
        f(s.day_of_week)
    )
}

/// The schedule `sched_text` wrote; `None` for anything else.
pub(crate) fn parse_sched(t: &str) -> Option<Schedule> {
    let mut it = t.split_ascii_whitespace().map(|f| {
        if f == "*" {
            Some(None)
        } else {
            f.parse::<u8>().ok().map(Some)
        }
    });
    let s = Schedule {
        minute: it.next()??,
        hour: it.next()??,
        day_of_month: it.next()??,
        month: it.next()??,
        day_of_week: it.next()??,
    };
    it.next().is_none().then_some(s)
}

/// gearmand's priority numbers (0 high, 1 normal, 2 low); anything else is normal.
pub(crate) fn priority_of(p: i64) -> Priority {
    match p {
        0 => Priority::High,
        2 => Priority::Low,
        _ => Priority::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_text_round_trips() {
        let s = Schedule {
            minute: Some(5),
            hour: None,
            day_of_month: Some(31),
            month: None,
            day_of_week: Some(0),
        };
        assert_eq!(sched_text(&s), "5 * 31 * 0");
        assert_eq!(parse_sched("5 * 31 * 0"), Some(s));
        assert_eq!(parse_sched("5 * 31 *"), None);
        assert_eq!(parse_sched("x * * * *"), None);
        assert_eq!(priority_of(7), Priority::Normal);
    }
}
