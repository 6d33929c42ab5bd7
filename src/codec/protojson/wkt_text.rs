//! Text forms of the well-known types `Timestamp` (RFC 3339), `Duration` (`1.5s`) and
//! `FieldMask` (`fooBar,baz.quxQuux`), parsed and printed exactly as prost-reflect does.

const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
const MAX_DURATION_SECONDS: u64 = 315_576_000_000;
const MAX_DURATION_NANOS: u32 = 999_999_999;
const NANOS_PER_SECOND: i32 = 1_000_000_000;

/// Parses a strict RFC 3339 timestamp (`T` and `Z` upper case, offset `±HH:MM`) into seconds
/// and nanos since the Unix epoch.
pub(super) fn parse_timestamp(text: &str) -> Result<(i64, i32), String> {
    let bytes = text.as_bytes();
    let mut at = 0usize;
    let year = digits(bytes, &mut at, 4).ok_or_else(|| timestamp_shape(text))?;
    expect(bytes, &mut at, b'-').ok_or_else(|| timestamp_shape(text))?;
    let month = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
    expect(bytes, &mut at, b'-').ok_or_else(|| timestamp_shape(text))?;
    let day = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
    expect(bytes, &mut at, b'T').ok_or_else(|| timestamp_shape(text))?;
    let hour = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
    expect(bytes, &mut at, b':').ok_or_else(|| timestamp_shape(text))?;
    let minute = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
    expect(bytes, &mut at, b':').ok_or_else(|| timestamp_shape(text))?;
    let mut second = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
    let nanos = if expect(bytes, &mut at, b'.').is_some() {
        fraction_nanos(bytes, &mut at).ok_or_else(|| timestamp_shape(text))?
    } else {
        0
    };
    let offset_seconds = match bytes.get(at) {
        Some(b'Z') => {
            at += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            at += 1;
            let hours = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
            expect(bytes, &mut at, b':').ok_or_else(|| timestamp_shape(text))?;
            let minutes = digits(bytes, &mut at, 2).ok_or_else(|| timestamp_shape(text))?;
            if hours >= 24 || minutes >= 60 {
                return Err(format!("invalid time zone offset in timestamp \"{text}\""));
            }
            let offset = i64::from(hours) * 3600 + i64::from(minutes) * 60;
            if sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return Err(timestamp_shape(text)),
    };
    if at != bytes.len() {
        return Err(timestamp_shape(text));
    }
    // A leap second is read as the second before it, as prost-types does.
    if second == 60 {
        second = 59;
    }
    let valid_date =
        (1..=12).contains(&month) && day >= 1 && day <= days_in_month(i64::from(year), month);
    if !valid_date || hour >= 24 || minute >= 60 || second >= 60 {
        return Err(format!("timestamp \"{text}\" is not a valid date and time"));
    }
    let days = days_from_civil(i64::from(year), month, day);
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset_seconds;
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(format!(
            "timestamp \"{text}\" is out of range (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"
        ));
    }
    Ok((seconds, nanos as i32))
}

fn timestamp_shape(text: &str) -> String {
    format!("invalid timestamp \"{text}\": expected RFC 3339 like \"2024-01-02T03:04:05.123Z\"")
}

/// Reads exactly `count` ASCII digits.
fn digits(bytes: &[u8], at: &mut usize, count: usize) -> Option<u32> {
    let run = bytes.get(*at..*at + count)?;
    let mut value = 0u32;
    for &byte in run {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(byte - b'0');
    }
    *at += count;
    Some(value)
}

fn expect(bytes: &[u8], at: &mut usize, wanted: u8) -> Option<()> {
    if bytes.get(*at) == Some(&wanted) {
        *at += 1;
        Some(())
    } else {
        None
    }
}

/// Reads a non-empty run of fraction digits as nanoseconds; digits past the ninth are
/// ignored, as prost-types does.
fn fraction_nanos(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let start = *at;
    let mut nanos = 0u32;
    while let Some(&byte) = bytes.get(*at) {
        if !byte.is_ascii_digit() {
            break;
        }
        if *at - start < 9 {
            nanos = nanos * 10 + u32::from(byte - b'0');
        }
        *at += 1;
    }
    let used = *at - start;
    if used == 0 {
        return None;
    }
    for _ in used..9 {
        nanos *= 10;
    }
    Some(nanos)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `value` in decimal, zero-padded to `width` digits.
fn push_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut rest = value;
    let mut used = 0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
        used += 1;
        if rest == 0 && used >= width {
            break;
        }
    }
    out.extend_from_slice(digits.get(digits.len() - used..).unwrap_or_default());
}

/// Appends the fraction of a second the way prost-types prints it: nothing, or 3, 6 or 9
/// digits.
fn push_fraction(out: &mut Vec<u8>, nanos: u32) {
    let nanos = u64::from(nanos);
    if nanos == 0 {
        return;
    }
    out.push(b'.');
    if nanos.is_multiple_of(1_000_000) {
        push_padded(out, nanos / 1_000_000, 3);
    } else if nanos.is_multiple_of(1_000) {
        push_padded(out, nanos / 1_000, 6);
    } else {
        push_padded(out, nanos, 9);
    }
}

/// Appends a `Timestamp` (without quotes) as prost-reflect prints it, or says why it cannot be
/// printed.
pub(super) fn format_timestamp(out: &mut Vec<u8>, seconds: i64, nanos: i32) -> Result<(), String> {
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(format!("timestamp of {seconds} seconds is out of range"));
    }
    // Bring nanos into [0, 1e9) first, carrying into the seconds, as prost-types does.
    let mut seconds = seconds + i64::from(nanos / NANOS_PER_SECOND);
    let mut nanos = nanos % NANOS_PER_SECOND;
    if nanos < 0 {
        seconds -= 1;
        nanos += NANOS_PER_SECOND;
    }
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400) as u64;
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        out.push(b'+');
        push_padded(out, year as u64, 1);
    } else if year < 0 {
        // Four digits after the sign, like `{:05}` does for a negative number.
        out.push(b'-');
        push_padded(out, year.unsigned_abs(), 4);
    } else {
        push_padded(out, year as u64, 4);
    }
    out.push(b'-');
    push_padded(out, u64::from(month), 2);
    out.push(b'-');
    push_padded(out, u64::from(day), 2);
    out.push(b'T');
    push_padded(out, in_day / 3600, 2);
    out.push(b':');
    push_padded(out, in_day / 60 % 60, 2);
    out.push(b':');
    push_padded(out, in_day % 60, 2);
    push_fraction(out, nanos as u32);
    out.push(b'Z');
    Ok(())
}

/// Parses a JSON duration such as `-1.5s` into seconds and nanos (both negative for a
/// negative duration).
pub(super) fn parse_duration(text: &str) -> Result<(i64, i32), String> {
    let shape = || {
        format!("invalid duration \"{text}\": expected seconds with an 's' suffix, like \"1.5s\"")
    };
    let bytes = text.as_bytes();
    let mut at = 0usize;
    let negative = expect(bytes, &mut at, b'-').is_some();
    let digits_start = at;
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    let whole = text.get(digits_start..at).ok_or_else(shape)?;
    let seconds: i64 = whole.parse().map_err(|_| shape())?;
    let nanos = if expect(bytes, &mut at, b'.').is_some() {
        fraction_nanos(bytes, &mut at).ok_or_else(shape)?
    } else {
        0
    };
    if expect(bytes, &mut at, b's').is_none() || at != bytes.len() {
        return Err(shape());
    }
    if seconds.unsigned_abs() > MAX_DURATION_SECONDS {
        return Err(format!(
            "duration \"{text}\" is out of range (at most 315576000000s)"
        ));
    }
    let nanos = nanos as i32;
    Ok(if negative {
        (-seconds, -nanos)
    } else {
        (seconds, nanos)
    })
}

/// Appends a `Duration` (without quotes) as prost-reflect prints it, or says why it cannot be
/// printed.
pub(super) fn format_duration(out: &mut Vec<u8>, seconds: i64, nanos: i32) -> Result<(), String> {
    if seconds.unsigned_abs() > MAX_DURATION_SECONDS || nanos.unsigned_abs() > MAX_DURATION_NANOS {
        return Err(format!(
            "duration of {seconds} seconds and {nanos} nanoseconds is out of range"
        ));
    }
    let negative = seconds < 0 || nanos < 0;
    // Give nanos the sign of the seconds, as prost-types' normalisation does.
    let (mut whole, mut fraction) = (seconds, nanos);
    if whole < 0 && fraction > 0 {
        whole += 1;
        fraction -= NANOS_PER_SECOND;
    } else if whole > 0 && fraction < 0 {
        whole -= 1;
        fraction += NANOS_PER_SECOND;
    }
    if negative {
        out.push(b'-');
    }
    push_padded(out, whole.unsigned_abs(), 1);
    push_fraction(out, fraction.unsigned_abs());
    out.push(b's');
    Ok(())
}

/// Converts the JSON form of a field mask into its proto paths (`fooBar.baz` → `foo_bar.baz`).
pub(super) fn parse_field_mask(text: &str) -> Result<Vec<String>, String> {
    let mut paths = Vec::new();
    for path in text.split(',').filter(|path| !path.is_empty()) {
        let mut snake = String::with_capacity(path.len() + 4);
        for ch in path.chars() {
            if ch.is_ascii_uppercase() {
                snake.push('_');
                snake.push(ch.to_ascii_lowercase());
            } else if ch == '_' {
                return Err(format!(
                    "invalid field mask path \"{path}\": paths must be lowerCamelCase"
                ));
            } else {
                snake.push(ch);
            }
        }
        paths.push(snake);
    }
    Ok(paths)
}

/// Appends the JSON form of one field mask path (`foo_bar.baz` → `fooBar.baz`), failing when
/// it would not read back as the same path.
pub(super) fn push_field_mask_path(out: &mut String, path: &str) -> Result<(), String> {
    // A trailing '_' would be lost and a ',' would split the path in two when the JSON is read
    // back, silently naming other fields. (An empty path prints as an empty element, which reads
    // back as nothing, as in prost-reflect and the reference implementations.)
    if path.ends_with('_') || path.contains(',') {
        return Err(format!(
            "field mask path \"{path}\" cannot be written in lowerCamelCase"
        ));
    }
    let mut upper_next = false;
    for ch in path.chars() {
        if ch.is_ascii_uppercase() {
            return Err(format!(
                "field mask path \"{path}\" cannot be written in lowerCamelCase"
            ));
        }
        if upper_next {
            let upper = ch.to_ascii_uppercase();
            if upper == ch {
                return Err(format!(
                    "field mask path \"{path}\" cannot be written in lowerCamelCase"
                ));
            }
            out.push(upper);
            upper_next = false;
        } else if ch == '_' {
            upper_next = true;
        } else {
            out.push(ch);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Result<String, String> {
        let mut out = Vec::new();
        format_timestamp(&mut out, seconds, nanos).map(|()| String::from_utf8(out).unwrap())
    }

    fn du(seconds: i64, nanos: i32) -> Result<String, String> {
        let mut out = Vec::new();
        format_duration(&mut out, seconds, nanos).map(|()| String::from_utf8(out).unwrap())
    }

    #[test]
    fn timestamps_parse_with_offsets_and_fractions() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Ok((0, 0)));
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.123Z"),
            Ok((1_704_164_645, 123_000_000))
        );
        assert_eq!(
            parse_timestamp("2024-01-02T03:04:05.123+01:00"),
            Ok((1_704_161_045, 123_000_000))
        );
        assert_eq!(parse_timestamp("1972-06-30T23:59:60Z"), Ok((78_796_799, 0)));
        assert_eq!(
            parse_timestamp("0001-01-01T00:00:00.1234567891Z"),
            Ok((MIN_TIMESTAMP_SECONDS, 123_456_789))
        );
        assert_eq!(
            parse_timestamp("9999-12-31T23:59:59Z"),
            Ok((MAX_TIMESTAMP_SECONDS, 0))
        );
    }

    #[test]
    fn timestamps_reject_bad_shapes_and_dates() {
        for bad in [
            "2024-01-02",
            "2024-01-02t03:04:05Z",
            "2024-01-02T03:04:05z",
            "2024-01-02T03:04:05",
            "2024-01-02T03:04:05.Z",
            "2024-01-02T03:04:05+0100",
            "2024-13-02T03:04:05Z",
            "2023-02-29T03:04:05Z",
            "2024-01-02T24:00:00Z",
            "0000-12-31T23:59:59Z",
            "2024-01-02T03:04:05+24:00",
            "2024-01-02T03:04:05Zjunk",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_timestamp("2024-13-02T03:04:05Z").unwrap_err(),
            "timestamp \"2024-13-02T03:04:05Z\" is not a valid date and time"
        );
    }

    #[test]
    fn timestamps_print_like_prost_types() {
        assert_eq!(ts(0, 0).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            ts(1_704_164_645, 123_000_000).unwrap(),
            "2024-01-02T03:04:05.123Z"
        );
        assert_eq!(ts(0, 1_000).unwrap(), "1970-01-01T00:00:00.000001Z");
        assert_eq!(ts(0, 1).unwrap(), "1970-01-01T00:00:00.000000001Z");
        assert_eq!(ts(0, -1).unwrap(), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            ts(MAX_TIMESTAMP_SECONDS, 1_500_000_000).unwrap(),
            "+10000-01-01T00:00:00.500Z"
        );
        assert!(ts(MAX_TIMESTAMP_SECONDS + 1, 0).is_err());
    }

    #[test]
    fn durations_parse_and_print_like_prost_types() {
        assert_eq!(parse_duration("1.5s"), Ok((1, 500_000_000)));
        assert_eq!(parse_duration("-0.5s"), Ok((0, -500_000_000)));
        assert_eq!(parse_duration("315576000000s"), Ok((315_576_000_000, 0)));
        for bad in ["1", "1.s", "+1s", "s", "1.5 s", "315576000001s", "1e3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(du(1, 500_000_000).unwrap(), "1.500s");
        assert_eq!(du(0, -500_000_000).unwrap(), "-0.500s");
        assert_eq!(du(-3, 0).unwrap(), "-3s");
        assert_eq!(du(1, -500_000_000).unwrap(), "-0.500s");
        assert!(du(0, 1_000_000_000).is_err());
    }

    #[test]
    fn field_masks_convert_case_both_ways() {
        assert_eq!(
            parse_field_mask("fooBar,inner.longName,"),
            Ok(vec!["foo_bar".to_owned(), "inner.long_name".to_owned()])
        );
        assert!(parse_field_mask("foo_bar").is_err());
        let mut out = String::new();
        push_field_mask_path(&mut out, "inner.long_name").unwrap();
        assert_eq!(out, "inner.longName");
        assert!(push_field_mask_path(&mut String::new(), "foo_1").is_err());
        assert!(push_field_mask_path(&mut String::new(), "fooBar").is_err());
    }

    #[test]
    fn field_mask_paths_that_would_not_read_back_are_refused() {
        // Found by fuzzing: each was printed, and read back as another mask.
        for path in ["foo_", "a,b", "foo.bar_", "_"] {
            assert_eq!(
                push_field_mask_path(&mut String::new(), path),
                Err(format!(
                    "field mask path \"{path}\" cannot be written in lowerCamelCase"
                )),
                "{path:?}"
            );
        }
        assert_eq!(parse_field_mask(","), Ok(vec![]));
        assert_eq!(parse_field_mask("\0y"), Ok(vec!["\0y".to_owned()]));
        let mut out = String::new();
        push_field_mask_path(&mut out, "\0y").unwrap();
        assert_eq!(out, "\0y");
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-719_162i64, -1, 0, 1, 11_016, 19_724, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
