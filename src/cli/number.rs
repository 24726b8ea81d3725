//! Parsing the whole numbers users type: `1000000`, `1_000_000`, `1e9`, `2.5e9`, `2^40`.

/// Parses a non-negative whole number. Accepts `_` between digits, scientific
/// notation that denotes a whole number, and powers written `B^K`.
pub fn parse_whole(text: &str) -> Result<u64, String> {
    whole(text, 0)
}

/// [`parse_whole`], where a negative number is told the least value allowed
/// (`min`); the caller refuses values under `min` that parse.
fn whole(text: &str, min: u64) -> Result<u64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("expected a whole number, got an empty string".to_string());
    }
    if t.starts_with('-') {
        return Err(format!(
            "`{t}` is negative; expected a whole number, {min} or more"
        ));
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.starts_with('_') || t.ends_with('_') || t.contains("__") {
        return Err(format!(
            "`{text}` is not a number: `_` may only separate digits"
        ));
    }
    let clean: String = t.chars().filter(|&c| c != '_').collect();
    let too_large = || {
        format!(
            "`{text}` is too large: the largest accepted value is 2^64 - 1 = {}",
            u64::MAX
        )
    };
    if let Some((base, power)) = clean.split_once('^') {
        let base = parse_digits(base).ok_or_else(|| not_a_number(text))?;
        let power = parse_digits(power).ok_or_else(|| not_a_number(text))?;
        let power = u32::try_from(power).map_err(|_| too_large())?;
        return base.checked_pow(power).ok_or_else(too_large);
    }
    let (mantissa, exponent) = match clean.find(['e', 'E']) {
        Some(at) => {
            let exp = &clean[at + 1..];
            let exp = exp.strip_prefix('+').unwrap_or(exp);
            let (negative, digits) = match exp.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, exp),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number(text));
            }
            // Exponents beyond any u64 saturate; the checks below then say why.
            let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX / 2);
            (&clean[..at], if negative { -magnitude } else { magnitude })
        }
        None => (clean.as_str(), 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
        return Err(not_a_number(text));
    }
    // value = digits * 10^(exponent - frac_len), exactly.
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let shift = exponent - frac_part.len() as i64;
    if digits.is_empty() {
        return Ok(0);
    }
    let (digits, shift) = if shift < 0 {
        let cut = shift.unsigned_abs().min(digits.len() as u64) as usize;
        let (keep, dropped) = digits.split_at(digits.len() - cut);
        if !dropped.bytes().all(|b| b == b'0') || (shift.unsigned_abs() as usize) > digits.len() {
            return Err(format!("`{text}` is not a whole number"));
        }
        (keep, 0)
    } else {
        (digits, shift)
    };
    if digits.len() as i64 + shift > 20 {
        return Err(too_large());
    }
    let mut value: u128 = digits.parse().map_err(|_| too_large())?;
    for _ in 0..shift {
        value *= 10;
    }
    u64::try_from(value).map_err(|_| too_large())
}

fn parse_digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn not_a_number(text: &str) -> String {
    format!("`{text}` is not a number")
}

/// Parses a count that must be at least 1.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match whole(text, 1)? {
        0 => Err("must be at least 1".to_string()),
        n => Ok(n),
    }
}

/// Parses a count from `min` to `max`; `max_text` says `max` the way users
/// would write it (`2^63`). A value too large even for 64 bits gets the same
/// message as one over `max`.
pub(crate) fn parse_in_range(
    text: &str,
    min: u64,
    max: u64,
    max_text: &str,
) -> Result<u64, String> {
    let over = || {
        if max_text == max.to_string() {
            format!("`{text}` is too large: at most {max}")
        } else {
            format!("`{text}` is too large: at most {max_text} = {max}")
        }
    };
    match whole(text, min) {
        Ok(n) if n > max => Err(over()),
        Ok(n) if n < min => Err(format!("must be at least {min}")),
        Ok(n) => Ok(n),
        Err(e) if e.contains("too large") => Err(over()),
        Err(e) => Err(e),
    }
}

/// Parses `pi`'s sample count: 1 to 2^63 (the Philox stream's length in samples).
pub fn parse_samples(text: &str) -> Result<u64, String> {
    parse_in_range(text, 1, crate::workloads::pi::MAX_SAMPLES, "2^63")
}

/// Parses `--threads`: a count from 1 to the machine's bound
/// ([`crate::backend::cpu::threads_over_bound`] says which).
pub fn parse_threads(text: &str) -> Result<usize, String> {
    let n = usize::try_from(parse_count(text)?).unwrap_or(usize::MAX);
    match crate::backend::cpu::threads_over_bound(n) {
        Some(bound) => Err(format!("`{text}` is too many: {bound}")),
        None => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_forms_users_type() {
        for (text, value) in [
            ("0", 0),
            ("42", 42),
            ("1_000_000", 1_000_000),
            ("1e9", 1_000_000_000),
            ("1E9", 1_000_000_000),
            ("2.5e9", 2_500_000_000),
            ("1.000e3", 1000),
            ("4.6e18", 4_600_000_000_000_000_000),
            ("2^62", 1 << 62),
            ("+7", 7),
            ("120e-1", 12),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_whole(text), Ok(value), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_whole_number() {
        for (text, why) in [
            ("abc", "not a number"),
            ("", "empty"),
            ("-5", "negative"),
            ("1.5", "not a whole number"),
            ("1e-3", "not a whole number"),
            ("12e-1", "not a whole number"),
            ("1e400", "too large"),
            ("18446744073709551616", "too large"),
            ("2^64", "too large"),
            ("1e", "not a number"),
            ("1..2", "not a number"),
            ("_1", "separate digits"),
            ("1__0", "separate digits"),
            ("0x10", "not a number"),
            ("1e99999999999999999999", "too large"),
        ] {
            let err = parse_whole(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
        assert_eq!(parse_count("0").unwrap_err(), "must be at least 1");
        // A negative count is told the least value its argument takes.
        assert!(parse_whole("-5").unwrap_err().ends_with("0 or more"));
        assert!(parse_count("-5").unwrap_err().ends_with("1 or more"));
        assert!(parse_samples("-5").unwrap_err().ends_with("1 or more"));
        assert!(parse_in_range("-1", 2, 9, "9")
            .unwrap_err()
            .ends_with("2 or more"));
        // One limit and one message for pi, however far past it a count is.
        assert_eq!(parse_samples("2^63"), Ok(1 << 63));
        for text in ["9223372036854775809", "2^64", "1e19", "1e30"] {
            let err = parse_samples(text).unwrap_err();
            assert!(
                err.ends_with("at most 2^63 = 9223372036854775808"),
                "{text}: {err}"
            );
        }
        assert_eq!(parse_samples("0").unwrap_err(), "must be at least 1");
        assert!(parse_threads("0").is_err());
    }
}
