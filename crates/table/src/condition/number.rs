//! Numbers compared exactly. JSON numbers arrive as `u64`, `i64` or `f64`
//! (serde_json's three representations); converting a large integer to
//! `f64` rounds it (2^53 + 1 would equal 2^53), so integers are kept as
//! `i128`, which holds both integer ranges, and compared with floats by
//! their integral and fractional parts.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A finite number. Integral values that fit in `i128` are held as
/// integers, whatever their JSON spelling (`2`, `2.0`, `2e0`), so equal
/// numbers have one representation and one hash.
#[derive(Clone, Copy)]
pub struct Num(Repr);

#[derive(Clone, Copy, Debug)]
enum Repr {
    Int(i128),
    /// Finite, and not integral within `i128` range.
    Float(f64),
}

/// 2^127 as `f64`: floats at or beyond it (in magnitude) are outside `i128`.
const I128_BOUND: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

impl Num {
    /// `None` for NaN and the infinities, which JSON cannot spell.
    pub fn float(value: f64) -> Option<Num> {
        if !value.is_finite() {
            return None;
        }
        if value.fract() == 0.0 && value.abs() < I128_BOUND {
            // Exact: an integral float below 2^127 converts without rounding.
            return Some(Num(Repr::Int(value as i128)));
        }
        Some(Num(Repr::Float(value)))
    }

    /// The number a JSON value holds, exactly; `None` for a non-finite one
    /// (serde_json never produces one, an `arbitrary_precision` build might).
    pub fn from_json(number: &serde_json::Number) -> Option<Num> {
        if let Some(int) = number.as_i64() {
            return Some(Num(Repr::Int(i128::from(int))));
        }
        if let Some(int) = number.as_u64() {
            return Some(Num(Repr::Int(i128::from(int))));
        }
        number.as_f64().and_then(Num::float)
    }

    /// The number as JSON: an integer when it fits `i64` or `u64`.
    pub fn to_json(self) -> serde_json::Value {
        match self.0 {
            Repr::Int(int) => {
                if let Ok(small) = i64::try_from(int) {
                    serde_json::Value::from(small)
                } else if let Ok(large) = u64::try_from(int) {
                    serde_json::Value::from(large)
                } else {
                    serde_json::Number::from_f64(int as f64)
                        .map_or(serde_json::Value::Null, serde_json::Value::Number)
                }
            }
            Repr::Float(float) => serde_json::Number::from_f64(float)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
        }
    }

    /// Exact comparison. Total: neither side is NaN.
    pub fn compare(self, other: Num) -> Ordering {
        match (self.0, other.0) {
            (Repr::Int(a), Repr::Int(b)) => a.cmp(&b),
            (Repr::Float(a), Repr::Float(b)) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
            (Repr::Int(a), Repr::Float(b)) => int_vs_float(a, b),
            (Repr::Float(a), Repr::Int(b)) => int_vs_float(b, a).reverse(),
        }
    }
}

/// Why a number literal cannot stand in a condition: the comparison would
/// hold another number than the one written ([`Num::literal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inexact {
    /// Not a number a 64-bit float can hold (`1e999`), or not JSON's syntax.
    NotANumber,
    /// An integer (however spelled: `18446744073709551616`, `1e20`)
    /// outside [`EXACT_INTEGERS`]. JSON integers are exact only within
    /// `i64::MIN..=u64::MAX`; beyond it an argument is read as the nearest
    /// float, so neighbouring integers compare equal (and equal to
    /// `i64::MIN`, a float too).
    BeyondIntegers,
    /// An integer within range spelled with a fraction or an exponent
    /// (`9007199254740993.0`), which JSON reads as a float that cannot hold
    /// it; `written` is the integer, which the plain spelling keeps exact.
    RoundedInteger { written: i128, read: Num },
    /// Not an integer, but the float nearest to it is one
    /// (`0.99999999999999999`, `9007199254740992.5`, `1e-400`): it would
    /// compare equal to an integer it is not.
    RoundsToInteger { read: Num },
}

/// The integers a literal may be: those JSON numbers hold exactly (as
/// `i64` and `u64`), but `i64::MIN`, which is also the float that the
/// integers just below it (to -2^63 - 1024) are read as, so that
/// `arg.n >= -9223372036854775808` would admit them. (`u64::MAX` is no
/// float: the integers above it are read as 2^64 or more.)
pub const EXACT_INTEGERS: std::ops::RangeInclusive<i128> =
    (i64::MIN as i128 + 1)..=(u64::MAX as i128);

impl Num {
    /// The number a literal in JSON's syntax stands for, read as an
    /// argument with the same spelling is read (serde_json, correctly
    /// rounded), refused when that reading is not the number written and
    /// an argument could tell them apart: an integer beyond
    /// [`EXACT_INTEGERS`], an integer spelled as a float that a float
    /// cannot hold, or a fraction that rounds to an integer. A fraction
    /// that rounds to another fraction (`0.1`) is accepted: every
    /// argument near it is read as the same float, as a server reading
    /// floats reads it.
    pub fn literal(text: &str) -> Result<Num, Inexact> {
        let read = serde_json::from_str::<serde_json::Number>(text)
            .ok()
            .and_then(|number| Num::from_json(&number))
            .ok_or(Inexact::NotANumber)?;
        let decimal = Decimal::parse(text).ok_or(Inexact::NotANumber)?;
        match decimal.integer() {
            Integer::Beyond => Err(Inexact::BeyondIntegers),
            Integer::Exact(written) if !EXACT_INTEGERS.contains(&written) => {
                Err(Inexact::BeyondIntegers)
            }
            Integer::Exact(written) => {
                let exact = Num(Repr::Int(written));
                if read == exact {
                    Ok(exact)
                } else {
                    Err(Inexact::RoundedInteger { written, read })
                }
            }
            Integer::No => match read.0 {
                Repr::Int(_) => Err(Inexact::RoundsToInteger { read }),
                Repr::Float(_) => Ok(read),
            },
        }
    }
}

/// A literal's value as written: `digits × 10^exponent`, `digits` without
/// leading or trailing zeros (empty for zero).
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

enum Integer {
    /// Not an integer.
    No,
    Exact(i128),
    /// An integer of more digits than any `u64`.
    Beyond,
}

impl Decimal {
    /// `None` unless `text` is JSON's number syntax.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (rest.get(..at)?, rest.get(at + 1..)?),
            None => (rest, "0"),
        };
        let exponent_digits = exponent.trim_start_matches(['+', '-']);
        if exponent_digits.is_empty() || !exponent_digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // An exponent beyond i64 is beyond any number too: saturate.
        let magnitude = exponent_digits
            .parse::<i64>()
            .unwrap_or(i64::MAX / 4)
            .min(i64::MAX / 4);
        let exponent = if exponent.starts_with('-') {
            -magnitude
        } else {
            magnitude
        };
        let (whole, fraction) = match mantissa.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (mantissa, ""),
        };
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
            return None;
        }
        let joined = format!("{whole}{fraction}");
        let shift = i64::try_from(fraction.len()).ok()?;
        let trimmed = joined.trim_start_matches('0');
        let significant = trimmed.trim_end_matches('0');
        let zeros = i64::try_from(trimmed.len() - significant.len()).ok()?;
        Some(Decimal {
            negative,
            digits: significant.to_owned(),
            exponent: exponent - shift + zeros,
        })
    }

    fn integer(&self) -> Integer {
        if self.digits.is_empty() {
            return Integer::Exact(0);
        }
        if self.exponent < 0 {
            return Integer::No;
        }
        // u64::MAX has 20 digits.
        let length = i64::try_from(self.digits.len()).unwrap_or(i64::MAX);
        if length.saturating_add(self.exponent) > 20 {
            return Integer::Beyond;
        }
        let value = self.digits.parse::<i128>().ok().and_then(|digits| {
            let scale = 10i128.checked_pow(u32::try_from(self.exponent).ok()?)?;
            digits.checked_mul(scale)
        });
        match value {
            Some(value) if self.negative => Integer::Exact(-value),
            Some(value) => Integer::Exact(value),
            None => Integer::Beyond,
        }
    }
}

/// `int` against a finite `float`, without rounding `int`.
fn int_vs_float(int: i128, float: f64) -> Ordering {
    if float >= I128_BOUND {
        return Ordering::Less;
    }
    if float < -I128_BOUND {
        return Ordering::Greater;
    }
    let whole = float.trunc();
    // Exact: `whole` is integral and within i128 range.
    match int.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0f64
            .partial_cmp(&(float - whole))
            .unwrap_or(Ordering::Equal),
        unequal => unequal,
    }
}

impl From<i64> for Num {
    fn from(value: i64) -> Num {
        Num(Repr::Int(i128::from(value)))
    }
}

impl From<u64> for Num {
    fn from(value: u64) -> Num {
        Num(Repr::Int(i128::from(value)))
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.compare(*other) == Ordering::Equal
    }
}

impl Eq for Num {}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Num) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Num) -> Ordering {
        self.compare(*other)
    }
}

impl Hash for Num {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal numbers share a representation (see `Num::float`).
        match self.0 {
            Repr::Int(int) => int.hash(state),
            Repr::Float(float) => float.to_bits().hash(state),
        }
    }
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::Int(int) => write!(f, "{int}"),
            Repr::Float(float) => write!(f, "{float}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Num {
        let value: serde_json::Value = serde_json::from_str(text).unwrap();
        Num::from_json(value.as_number().unwrap()).unwrap()
    }

    #[test]
    fn integers_at_the_extremes_compare_exactly() {
        assert!(json("9007199254740993") > json("9007199254740992"));
        assert!(json("18446744073709551615") > json("18446744073709551614"));
        assert!(json("-9223372036854775808") < json("-9223372036854775807"));
        assert!(json("18446744073709551615") > json("-9223372036854775808"));
        assert_eq!(Num::from(u64::MAX), json("18446744073709551615"));
        assert_eq!(Num::from(i64::MIN), json("-9223372036854775808"));
    }

    #[test]
    fn floats_and_integers_compare_by_value() {
        assert_eq!(json("2.0"), json("2"));
        assert_eq!(json("2e0"), Num::from(2i64));
        assert_eq!(json("-0.0"), json("0"));
        assert!(json("100.5") > json("100"));
        assert!(json("99.999") < json("100"));
        assert!(json("-100.5") < json("-100"));
        assert!(json("1e300") > Num::from(u64::MAX));
        assert!(json("-1e300") < Num::from(i64::MIN));
        // 2^53 + 1 is not 2^53 as f64 rounds it.
        assert!(json("9007199254740993") > json("9007199254740992.0"));
        assert!(json("0.1") < json("0.2"));
        assert!(Num::float(f64::NAN).is_none() && Num::float(f64::INFINITY).is_none());
    }

    #[test]
    fn equal_numbers_hash_alike() {
        use std::collections::HashSet;
        let set: HashSet<Num> = [json("3"), json("3.0"), json("3e0")].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn to_json_keeps_integers_integral() {
        assert_eq!(
            json("18446744073709551615").to_json(),
            serde_json::json!(u64::MAX)
        );
        assert_eq!(json("-5").to_json(), serde_json::json!(-5));
        assert_eq!(json("0.5").to_json(), serde_json::json!(0.5));
    }

    #[test]
    fn parsing_is_correctly_rounded() {
        // Halfway cases that serde_json's default fast path rounds the
        // wrong way; `float_roundtrip` (the workspace's serde_json
        // feature) rounds them as `str::parse` does.
        for text in [
            "9007199254740993.0",
            "1.00000000000000011102230246251565404236316680908203125",
            "2.2250738585072011e-308",
        ] {
            let exact: f64 = text.parse().unwrap();
            assert_eq!(json(text), Num::float(exact).unwrap(), "{text}");
        }
        assert_eq!(
            json("9007199254740993.0"),
            Num::from(9_007_199_254_740_992u64)
        );
        assert_eq!(
            json("1.00000000000000011102230246251565404236316680908203125"),
            Num::from(1i64)
        );
    }

    #[test]
    fn exact_literals_are_accepted() {
        let ok = |text: &str| Num::literal(text).unwrap();
        assert_eq!(ok("18446744073709551615"), Num::from(u64::MAX));
        assert_eq!(ok("-9223372036854775807"), Num::from(i64::MIN + 1));
        assert_eq!(ok("9223372036854775807"), Num::from(i64::MAX));
        assert_eq!(ok("9007199254740993"), Num::from(9_007_199_254_740_993u64));
        assert_eq!(
            ok("9007199254740992.0"),
            Num::from(9_007_199_254_740_992u64)
        );
        assert_eq!(ok("-0.0"), Num::from(0i64));
        assert_eq!(ok("-0"), Num::from(0i64));
        assert_eq!(ok("0e999999999999999999999"), Num::from(0i64));
        assert_eq!(ok("1e19"), Num::from(10_000_000_000_000_000_000u64));
        assert_eq!(ok("2.50e1"), Num::float(25.0).unwrap());
        assert_eq!(ok("100.5"), Num::float(100.5).unwrap());
        // Fractions are read as the nearest float, as arguments are.
        assert_eq!(ok("0.1"), json("0.1"));
        assert_eq!(ok("5e-324"), Num::float(f64::from_bits(1)).unwrap());
        assert_eq!(
            ok("2.2250738585072014e-308"),
            Num::float(f64::MIN_POSITIVE).unwrap()
        );
        assert_eq!(
            ok("4503599627370495.5"),
            Num::float(4_503_599_627_370_495.5).unwrap()
        );
    }

    #[test]
    fn inexact_literals_are_refused() {
        let no = |text: &str| Num::literal(text).unwrap_err();
        assert_eq!(no("1e999"), Inexact::NotANumber);
        assert_eq!(no("-1e999"), Inexact::NotANumber);
        for beyond in [
            "18446744073709551616",
            "18446744073709551617",
            "-9223372036854775809",
            "-9223372036854775808",
            "-9.223372036854775808e18",
            "1e20",
            "1.8446744073709551616e19",
            "1e308",
            "-1e308",
            "1.7976931348623157e308",
            "123456789012345678901234567890",
        ] {
            assert_eq!(no(beyond), Inexact::BeyondIntegers, "{beyond}");
        }
        assert_eq!(
            no("9007199254740993.0"),
            Inexact::RoundedInteger {
                written: 9_007_199_254_740_993,
                read: Num::from(9_007_199_254_740_992u64)
            }
        );
        assert!(matches!(
            no("1.8446744073709551615e19"),
            Inexact::RoundedInteger { written, .. } if written == i128::from(u64::MAX)
        ));
        assert!(matches!(
            no("-9.223372036854775807e18"),
            Inexact::RoundedInteger { written, .. } if written == i128::from(i64::MIN + 1)
        ));
        assert!(matches!(
            no("-9.223372036854775806e18"),
            Inexact::RoundedInteger { written, .. } if written == i128::from(i64::MIN + 2)
        ));
        for (text, read) in [
            ("0.99999999999999999", 1i64),
            ("9007199254740992.5", 9_007_199_254_740_992),
            ("-9007199254740992.5", -9_007_199_254_740_992),
            ("1e-400", 0),
            ("-1e-400", 0),
            ("9007199254740991.5", 9_007_199_254_740_992),
            ("4503599627370496.75", 4_503_599_627_370_497),
        ] {
            assert_eq!(
                no(text),
                Inexact::RoundsToInteger {
                    read: Num::from(read)
                },
                "{text}"
            );
        }
    }
}
