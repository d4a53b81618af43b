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
}
