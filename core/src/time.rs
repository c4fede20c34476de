//! RFC 3339 timestamps in UTC, without a date-time dependency.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::TimestampError;

/// Seconds from the Unix epoch to 0001-01-01T00:00:00Z.
const MIN_UNIX_SECONDS: i64 = -62_135_596_800;
/// Seconds from the Unix epoch to 9999-12-31T23:59:59Z.
const MAX_UNIX_SECONDS: i64 = 253_402_300_799;
const SECONDS_PER_DAY: i64 = 86_400;
/// Longest accepted textual timestamp; anything longer is refused before parsing.
const MAX_TEXT_LEN: usize = 64;

/// A point in time between 0001-01-01 and 9999-12-31 UTC, with nanosecond resolution.
///
/// It prints as RFC 3339 in UTC with exactly six fractional digits
/// (`2026-11-27T11:40:57.123456Z`), the form of Kubernetes' `MicroTime` used in audit
/// events (AU-8: UTC, sub-second). Parsing accepts any RFC 3339 date-time (`Z` or a numeric
/// offset, 0–9 fractional digits) and converts it to UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_seconds: i64,
    nanos: u32,
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp {
        unix_seconds: 0,
        nanos: 0,
    };

    /// Builds a timestamp from seconds and nanoseconds since the Unix epoch.
    ///
    /// # Errors
    /// [`TimestampError::OutOfRange`] outside years 1–9999 or when `nanos` ≥ 10⁹.
    pub fn from_unix(unix_seconds: i64, nanos: u32) -> Result<Self, TimestampError> {
        if !(MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS).contains(&unix_seconds) || nanos >= 1_000_000_000
        {
            return Err(TimestampError::OutOfRange);
        }
        Ok(Timestamp {
            unix_seconds,
            nanos,
        })
    }

    /// Converts a [`SystemTime`], saturating at the ends of the representable range.
    pub fn from_system_time(time: SystemTime) -> Self {
        let (seconds, nanos) = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => (
                i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                after.subsec_nanos(),
            ),
            Err(before) => {
                let before = before.duration();
                let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                match before.subsec_nanos() {
                    0 => (whole.saturating_neg(), 0),
                    n => (whole.saturating_neg().saturating_sub(1), 1_000_000_000 - n),
                }
            }
        };
        if seconds < MIN_UNIX_SECONDS {
            Timestamp {
                unix_seconds: MIN_UNIX_SECONDS,
                nanos: 0,
            }
        } else if seconds > MAX_UNIX_SECONDS {
            Timestamp {
                unix_seconds: MAX_UNIX_SECONDS,
                nanos: 999_999_999,
            }
        } else {
            Timestamp {
                unix_seconds: seconds,
                nanos,
            }
        }
    }

    /// The same instant as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        let sub = Duration::from_nanos(u64::from(self.nanos));
        let whole = Duration::from_secs(self.unix_seconds.unsigned_abs());
        if self.unix_seconds >= 0 {
            UNIX_EPOCH + whole + sub
        } else {
            UNIX_EPOCH - whole + sub
        }
    }

    /// Whole seconds since the Unix epoch (negative before 1970).
    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// The nanoseconds within the second.
    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        Timestamp::from_system_time(time)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> Self {
        time.to_system_time()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.unix_seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = self.unix_seconds.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            self.nanos / 1000
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Parses an RFC 3339 `date-time` (section 5.6), e.g. `2026-11-27T11:40:57Z` or
    /// `2026-11-27T12:40:57.5+01:00`. Leap seconds (`:60`) are refused.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_TEXT_LEN {
            return Err(TimestampError::Syntax);
        }
        let mut cursor = Cursor(text.as_bytes());
        let year = cursor.digits(4)?;
        cursor.expect(b'-')?;
        let month = cursor.digits(2)?;
        cursor.expect(b'-')?;
        let day = cursor.digits(2)?;
        cursor.expect_any(b"Tt")?;
        let hour = cursor.digits(2)?;
        cursor.expect(b':')?;
        let minute = cursor.digits(2)?;
        cursor.expect(b':')?;
        let second = cursor.digits(2)?;
        let nanos = cursor.fraction()?;
        let offset_seconds = cursor.offset()?;
        if !cursor.0.is_empty() {
            return Err(TimestampError::Syntax);
        }
        if year == 0
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(TimestampError::OutOfRange);
        }
        let days = days_from_civil(i64::from(year), month, day);
        let local = days * SECONDS_PER_DAY
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        Timestamp::from_unix(local - offset_seconds, nanos)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A byte cursor for the RFC 3339 grammar.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), TimestampError> {
        self.expect_any(&[wanted])
    }

    fn expect_any(&mut self, wanted: &[u8]) -> Result<(), TimestampError> {
        match self.next() {
            Some(byte) if wanted.contains(&byte) => Ok(()),
            _ => Err(TimestampError::Syntax),
        }
    }

    fn digits(&mut self, count: usize) -> Result<u32, TimestampError> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.next() {
                Some(byte @ b'0'..=b'9') => value = value * 10 + u32::from(byte - b'0'),
                _ => return Err(TimestampError::Syntax),
            }
        }
        Ok(value)
    }

    /// `time-secfrac`: a dot and one or more digits; at most nine are kept exactly,
    /// more are refused rather than silently rounded.
    fn fraction(&mut self) -> Result<u32, TimestampError> {
        if self.0.first() != Some(&b'.') {
            return Ok(0);
        }
        self.next();
        let mut nanos = 0u32;
        let mut count = 0u32;
        while let Some(byte @ b'0'..=b'9') = self.0.first().copied() {
            self.next();
            count += 1;
            if count > 9 {
                return Err(TimestampError::Syntax);
            }
            nanos = nanos * 10 + u32::from(byte - b'0');
        }
        if count == 0 {
            return Err(TimestampError::Syntax);
        }
        Ok(nanos * 10u32.pow(9 - count))
    }

    /// `time-offset`: `Z` or `±HH:MM`, as seconds east of UTC.
    fn offset(&mut self) -> Result<i64, TimestampError> {
        let sign = match self.next() {
            Some(b'Z' | b'z') => return Ok(0),
            Some(b'+') => 1,
            Some(b'-') => -1,
            _ => return Err(TimestampError::Syntax),
        };
        let hours = self.digits(2)?;
        self.expect(b':')?;
        let minutes = self.digits(2)?;
        if hours > 23 || minutes > 59 {
            return Err(TimestampError::OutOfRange);
        }
        Ok(sign * (i64::from(hours) * 3600 + i64::from(minutes) * 60))
    }
}

fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant, `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Timestamp, TimestampError> {
        text.parse()
    }

    #[test]
    fn known_instants_print_as_rfc3339_utc_with_microseconds() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000000Z"),
            (951_782_400, 0, "2000-02-29T00:00:00.000000Z"),
            (1_795_779_657, 123_456_789, "2026-11-27T11:40:57.123456Z"),
            (-1, 999_999_000, "1969-12-31T23:59:59.999999Z"),
            (MIN_UNIX_SECONDS, 0, "0001-01-01T00:00:00.000000Z"),
            (MAX_UNIX_SECONDS, 0, "9999-12-31T23:59:59.000000Z"),
        ];
        for (seconds, nanos, text) in cases {
            let time = Timestamp::from_unix(seconds, nanos).unwrap();
            assert_eq!(time.to_string(), text);
            assert_eq!(parse(text).unwrap().unix_seconds(), seconds, "{text}");
        }
    }

    #[test]
    fn offsets_and_fractions_are_converted_to_utc() {
        let utc = parse("2026-11-27T11:40:57.5Z").unwrap();
        assert_eq!(parse("2026-11-27T12:40:57.500+01:00").unwrap(), utc);
        assert_eq!(parse("2026-11-27t06:10:57.5-05:30").unwrap(), utc);
        assert_eq!(utc.subsec_nanos(), 500_000_000);
        assert_eq!(
            parse("2026-11-27T11:40:57.123456789Z")
                .unwrap()
                .subsec_nanos(),
            123_456_789
        );
    }

    #[test]
    fn malformed_and_impossible_dates_are_refused() {
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T11:40:57",
            "2026-11-27 11:40:57Z",
            "2026-11-27T11:40:57.Z",
            "2026-11-27T11:40:57.1234567890Z",
            "2026-11-27T11:40:57+0100",
            "2026-11-27T11:40:57Z ",
            "+2026-11-27T11:40:57Z",
            "２０２６-11-27T11:40:57Z",
        ] {
            assert_eq!(parse(bad), Err(TimestampError::Syntax), "{bad:?}");
        }
        for impossible in [
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+00:01",
            "2026-11-27T00:00:00+24:00",
        ] {
            assert_eq!(
                parse(impossible),
                Err(TimestampError::OutOfRange),
                "{impossible}"
            );
        }
        assert_eq!(parse(&"9".repeat(100)), Err(TimestampError::Syntax));
    }

    #[test]
    fn system_time_outside_the_range_saturates() {
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(
            Timestamp::from_system_time(far).to_string(),
            "9999-12-31T23:59:59.999999Z"
        );
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        let time = Timestamp::from_system_time(before);
        assert_eq!(time.to_string(), "1969-12-31T23:59:58.500000Z");
        assert_eq!(time.to_system_time(), before);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let time = parse("2026-11-27T11:40:57.000001Z").unwrap();
        let json = serde_json::to_string(&time).unwrap();
        assert_eq!(json, "\"2026-11-27T11:40:57.000001Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), time);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    proptest! {
        #[test]
        fn text_round_trips_at_microsecond_precision(
            seconds in MIN_UNIX_SECONDS..=MAX_UNIX_SECONDS,
            micros in 0u32..1_000_000,
        ) {
            let time = Timestamp::from_unix(seconds, micros * 1000).unwrap();
            prop_assert_eq!(parse(&time.to_string()).unwrap(), time);
            prop_assert_eq!(Timestamp::from_system_time(time.to_system_time()), time);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }
    }
}
