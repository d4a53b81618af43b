//! `now:` in a test file: seconds since the Unix epoch, or an RFC 3339 time
//! (`2026-01-01T00:00:00Z`), which reads better in a file people review.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// Seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Time(pub i64);

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        deserializer.deserialize_any(TimeVisitor)
    }
}

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = Time;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "seconds since the Unix epoch, or an RFC 3339 time such as `2026-01-01T00:00:00Z`",
        )
    }

    fn visit_i64<E: de::Error>(self, seconds: i64) -> Result<Time, E> {
        Ok(Time(seconds))
    }

    fn visit_u64<E: de::Error>(self, seconds: u64) -> Result<Time, E> {
        i64::try_from(seconds)
            .map(Time)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(seconds), &self))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Time, E> {
        parse_rfc3339(text)
            .map(Time)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(text), &self))
    }
}

/// An RFC 3339 time as seconds since the Unix epoch, fractional seconds
/// dropped. jiff reads it (with the `Z` or offset required: a time without
/// one names no instant), and reads some ISO 8601 / RFC 9557 forms besides,
/// such as `+01` for `+01:00` or a trailing `[Europe/Paris]`; a leap second
/// `:60` is read as `:59`.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let time = text.parse::<jiff::Timestamp>().ok()?;
    // jiff truncates toward zero; dropping the fraction of the written time
    // rounds down, before 1970 too (`23:59:59.5Z` is second -1, not 0).
    let seconds = time.as_second();
    Some(if time.subsec_nanosecond() < 0 {
        seconds.saturating_sub(1)
    } else {
        seconds
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utc_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.999Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-01-01T01:00:00+01:00"),
            Some(1_767_225_600)
        );
        assert_eq!(
            parse_rfc3339("2025-12-31T19:00:00-05:00"),
            Some(1_767_225_600)
        );
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-1));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for text in [
            "",
            "2026",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+1:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00Zjunk",
            "+026-01-01T00:00:00Z",
            "2026-01-01T00:00:00+0a:00",
            "2026-01-01T00:00:00é",
            // jiff reads nanoseconds at most, where the old parser read any
            // number of digits.
            "2026-01-01T00:00:00.1234567890Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text:?}");
        }
    }

    #[test]
    fn reads_the_separators_rfc_3339_allows() {
        for text in [
            "2026-01-01t00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00z",
            "2026-01-01T00:00:00-00:00",
        ] {
            assert_eq!(parse_rfc3339(text), Some(1_767_225_600), "{text:?}");
        }
    }

    #[test]
    fn reads_a_leap_second_as_the_second_before() {
        // The old parser rolled `:60` over into the next minute (1_483_228_800).
        assert_eq!(parse_rfc3339("2016-12-31T23:59:60Z"), Some(1_483_228_799));
    }

    /// Looser than RFC 3339, as jiff reads ISO 8601 and RFC 9557 too: the
    /// old parser refused all of these.
    #[test]
    fn reads_iso_8601_forms_too() {
        for (text, seconds) in [
            ("2026-01-01T01:00:00+01", 1_767_225_600),
            ("2026-01-01T01:00:00+0100", 1_767_225_600),
            ("2026-01-01T00:00Z", 1_767_225_600),
            ("20260101T000000Z", 1_767_225_600),
            ("2026-01-01T00:00:00,5Z", 1_767_225_600),
            ("+002026-01-01T00:00:00Z", 1_767_225_600),
            ("2026-01-01T01:00:00+01:00[Europe/Paris]", 1_767_225_600),
        ] {
            assert_eq!(parse_rfc3339(text), Some(seconds), "{text:?}");
        }
    }
}
