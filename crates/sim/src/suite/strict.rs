//! A YAML value read as JSON, noting the first mapping at any depth that
//! names a key twice.
//!
//! `serde_json::Value` keeps the last of two keys silently, so
//! `arguments: { repo: { owner: b, owner: a } }` would decide on `a`. The
//! HTTP layer refuses a body with a duplicate key at any depth (the policy
//! and the server could read different values), and a test must not pass
//! on what a server would refuse; so test files refuse it too, where it is
//! written.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::locate::Step;

/// The value, and where a key is first given twice in it.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct StrictValue {
    pub(super) value: Value,
    pub(super) duplicate: Option<Duplicate>,
}

/// A key given twice: the steps from the value to the mapping holding it,
/// and the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Duplicate {
    pub(super) path: Vec<PathStep>,
    pub(super) key: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PathStep {
    Key(String),
    Index(usize),
}

impl Duplicate {
    /// The path as steps for [`super::locate`], below the value.
    pub(super) fn steps(&self) -> impl Iterator<Item = Step<'_>> {
        self.path.iter().map(|step| match step {
            PathStep::Key(key) => Step::Key(key),
            PathStep::Index(index) => Step::Index(*index),
        })
    }

    /// `repo.owner`, `items[2].id`: the key as a message names it, below
    /// the argument or claim `root`.
    pub(super) fn dotted(&self, root: &str) -> String {
        let mut out = root.to_owned();
        for step in &self.path {
            match step {
                PathStep::Key(key) => {
                    out.push('.');
                    out.push_str(key);
                }
                PathStep::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out.push('.');
        out.push_str(&self.key);
        out
    }
}

impl StrictValue {
    fn plain(value: Value) -> StrictValue {
        StrictValue {
            value,
            duplicate: None,
        }
    }
}

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<StrictValue, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::Number(value.into())))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::Number(value.into())))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<StrictValue, E> {
        // As serde_json's own Value does: a NaN or an infinity is null.
        Ok(StrictValue::plain(
            Number::from_f64(value).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::String(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::String(value)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<StrictValue, E> {
        Ok(StrictValue::plain(Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<StrictValue, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        let mut duplicate = None;
        while let Some(item) = seq.next_element::<StrictValue>()? {
            if duplicate.is_none() {
                duplicate = item.duplicate.map(|mut inner| {
                    inner.path.insert(0, PathStep::Index(items.len()));
                    inner
                });
            }
            items.push(item.value);
        }
        Ok(StrictValue {
            value: Value::Array(items),
            duplicate,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
        let mut entries = Map::new();
        let mut duplicate = None;
        while let Some((key, item)) = map.next_entry::<String, StrictValue>()? {
            if duplicate.is_none() {
                duplicate = item.duplicate.map(|mut inner| {
                    inner.path.insert(0, PathStep::Key(key.clone()));
                    inner
                });
            }
            if entries.contains_key(&key) && duplicate.is_none() {
                duplicate = Some(Duplicate {
                    path: Vec::new(),
                    key: key.clone(),
                });
            }
            entries.insert(key, item.value);
        }
        Ok(StrictValue {
            value: Value::Object(entries),
            duplicate,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn read(yaml: &str) -> StrictValue {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn values_read_as_serde_json_reads_them() {
        let yaml = "{ a: 1, b: -2, c: 1.5, d: true, e: null, f: [x, { g: h }], i: '7' }";
        let strict = read(yaml);
        assert_eq!(strict.duplicate, None);
        let plain: Value = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(strict.value, plain);
        assert_eq!(read(".nan").value, Value::Null);
    }

    #[test]
    fn the_first_key_given_twice_is_found_at_any_depth() {
        let nested = read("{ repo: { owner: b, owner: a } }");
        let duplicate = nested.duplicate.unwrap();
        assert_eq!(duplicate.path, [PathStep::Key("repo".into())]);
        assert_eq!(duplicate.dotted("arguments"), "arguments.repo.owner");
        let in_list = read("items: [ { id: 1 }, { id: 2, id: 3 } ]");
        assert_eq!(
            in_list.duplicate.unwrap().dotted("x"),
            "x.items[1].id",
            "inside a list"
        );
        let top = read("{ a: 1, a: 2 }").duplicate.unwrap();
        assert_eq!((top.path.len(), top.key.as_str()), (0, "a"));
        // The value itself keeps what serde_json would (the last), but
        // callers refuse it.
        assert_eq!(read("{ a: 1, a: 2 }").value, json!({"a": 2}));
    }
}
