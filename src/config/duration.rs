//! Heartbeat's time values (`keepalive 2`, `deadtime 1.5`, `warntime 500ms`,
//! `keepalive 100us`) parsed into exact [`Duration`]s.
//!
//! Syntax, as Heartbeat's `cl_get_msec` reads it: a number made of digits
//! and at most one `.`, optional spaces or tabs, then an optional unit — none
//! means seconds, `ms`/`msec` milliseconds, `us`/`usec` microseconds (units
//! in any case). Heartbeat rounds to whole milliseconds; twinbeat keeps
//! microseconds exactly and refuses a value that is not a whole number of
//! them rather than rounding it silently.

use std::time::Duration;

use super::diag::shown;

/// Why a time value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty time value")]
    Empty,
    #[error("negative time value `{}`: times must be zero or more", shown(.0))]
    Negative(String),
    #[error(
        "`{}` is not a time value (expected a number with an optional unit: 2, 1.5, 500ms, 100us)",
        shown(.0)
    )]
    NotANumber(String),
    #[error(
        "unknown time unit `{}` in `{}` (expected none for seconds, ms or us)",
        shown(.unit),
        shown(.text)
    )]
    UnknownUnit { text: String, unit: String },
    #[error("time value `{}` is too large", shown(.0))]
    Overflow(String),
    #[error("time value `{}` is not a whole number of microseconds", shown(.0))]
    SubMicrosecond(String),
}

const MICROS_PER_SEC: u64 = 1_000_000;
const MICROS_PER_MILLI: u64 = 1_000;

/// Parses a Heartbeat time value, keeping microseconds exactly.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim_matches([' ', '\t']);
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed.starts_with('-') {
        return Err(DurationError::Negative(trimmed.to_string()));
    }
    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, rest) = trimmed.split_at(number_len);
    let unit = rest.trim_start_matches([' ', '\t']);
    let micros_per_unit = match unit.to_ascii_lowercase().as_str() {
        "" => MICROS_PER_SEC,
        "ms" | "msec" => MICROS_PER_MILLI,
        "us" | "usec" => 1,
        _ if number.is_empty() => return Err(DurationError::NotANumber(trimmed.to_string())),
        _ => {
            return Err(DurationError::UnknownUnit {
                text: trimmed.to_string(),
                unit: unit.to_string(),
            });
        }
    };
    let micros = scale_decimal(number, micros_per_unit, trimmed)?;
    Ok(Duration::from_micros(micros))
}

/// `number` × `micros_per_unit` computed exactly in integers: floats would
/// turn `0.1` into 99999.99… µs.
fn scale_decimal(number: &str, micros_per_unit: u64, whole: &str) -> Result<u64, DurationError> {
    let not_a_number = || DurationError::NotANumber(whole.to_string());
    let overflow = || DurationError::Overflow(whole.to_string());
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
        return Err(not_a_number());
    }
    let mut micros: u64 = 0;
    for digit in int_part.bytes() {
        micros = micros
            .checked_mul(10)
            .and_then(|m| m.checked_add(u64::from(digit - b'0')))
            .ok_or_else(overflow)?;
    }
    micros = micros.checked_mul(micros_per_unit).ok_or_else(overflow)?;
    // Each fractional digit is worth micros_per_unit / 10^k µs; once that is
    // below one µs, any non-zero digit means a fraction of a microsecond.
    let mut place = micros_per_unit;
    for digit in frac_part.bytes() {
        let digit = u64::from(digit - b'0');
        if place % 10 != 0 {
            if digit != 0 {
                return Err(DurationError::SubMicrosecond(whole.to_string()));
            }
            continue;
        }
        place /= 10;
        micros = micros.checked_add(digit * place).ok_or_else(overflow)?;
    }
    Ok(micros)
}

/// Formats a duration the way a person writes it in ha.cf, exactly: whole
/// seconds bare (`2`), else whole milliseconds (`500ms`), else microseconds
/// (`100us`); [`parse_duration`] reads it back to the same value.
pub fn format_duration(d: Duration) -> String {
    let micros = d.as_micros();
    let per_sec = u128::from(MICROS_PER_SEC);
    let per_milli = u128::from(MICROS_PER_MILLI);
    if micros % per_sec == 0 {
        format!("{}", micros / per_sec)
    } else if micros % per_milli == 0 {
        format!("{}ms", micros / per_milli)
    } else {
        format!("{micros}us")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(ok("2"), Duration::from_secs(2));
        assert_eq!(ok("30"), Duration::from_secs(30));
        assert_eq!(ok("0"), Duration::ZERO);
    }

    #[test]
    fn fractions_of_seconds_are_exact() {
        assert_eq!(ok("1.5"), Duration::from_millis(1500));
        assert_eq!(ok("0.1"), Duration::from_millis(100));
        assert_eq!(ok(".5"), Duration::from_millis(500));
        assert_eq!(ok("0.000001"), Duration::from_micros(1));
        assert_eq!(ok("2."), Duration::from_secs(2));
    }

    #[test]
    fn units_in_any_case_with_optional_spaces() {
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("500 ms"), Duration::from_millis(500));
        assert_eq!(ok("500\tMS"), Duration::from_millis(500));
        assert_eq!(ok("20msec"), Duration::from_millis(20));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("250 usec"), Duration::from_micros(250));
        assert_eq!(ok("1.5ms"), Duration::from_micros(1500));
    }

    #[test]
    fn one_hundred_microseconds_is_representable() {
        assert_eq!(ok("100us"), Duration::from_micros(100));
        assert_eq!(ok("0.1ms"), Duration::from_micros(100));
        assert_eq!(ok("0.0001"), Duration::from_micros(100));
    }

    #[test]
    fn refuses_fractions_of_a_microsecond() {
        assert!(matches!(
            parse_duration("1.5us"),
            Err(DurationError::SubMicrosecond(_))
        ));
        assert!(matches!(
            parse_duration("0.0000001"),
            Err(DurationError::SubMicrosecond(_))
        ));
        assert!(matches!(
            parse_duration("0.0001ms"),
            Err(DurationError::SubMicrosecond(_))
        ));
        // Trailing zeros below a microsecond are harmless.
        assert_eq!(ok("1.000000000"), Duration::from_secs(1));
    }

    #[test]
    fn refuses_negatives_garbage_and_overflow() {
        assert!(matches!(
            parse_duration("-1"),
            Err(DurationError::Negative(_))
        ));
        assert!(matches!(parse_duration(""), Err(DurationError::Empty)));
        assert!(matches!(parse_duration("  "), Err(DurationError::Empty)));
        assert!(matches!(
            parse_duration("abc"),
            Err(DurationError::NotANumber(_))
        ));
        assert!(matches!(
            parse_duration("."),
            Err(DurationError::NotANumber(_))
        ));
        assert!(matches!(
            parse_duration("1.2.3"),
            Err(DurationError::NotANumber(_))
        ));
        assert!(matches!(
            parse_duration("ms"),
            Err(DurationError::NotANumber(_))
        ));
        assert!(matches!(
            parse_duration("5 minutes"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("5s"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("2 2"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("18446744073709551615"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn format_reads_back_to_the_same_value() {
        for text in ["2", "1.5", "500ms", "100us", "0", "1.000001"] {
            let d = ok(text);
            assert_eq!(ok(&format_duration(d)), d, "{text}");
        }
        assert_eq!(format_duration(Duration::from_secs(2)), "2");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_micros(100)), "100us");
    }
}
