//! Where a node of the YAML is, asked of serde_yaml itself.
//!
//! serde_yaml keeps no positions in what it deserializes, but it attaches
//! the position of the node being read to any error raised while reading
//! it. So to find the node at a path, the text is read once more by a
//! visitor that walks down that path, skipping everything else, and fails
//! on arrival: the error's location is the node's. The position comes from
//! the same parser that read the file — never from searching the text,
//! which could find the same words in a comment or another test. A pass
//! costs one parse; it runs only for what is reported (diagnostics and
//! failed cases).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The error raised on arrival. Only this module's visitors raise it.
const ARRIVED: &str = "\u{0}mcp-policy: located\u{0}";

/// One step down from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    /// Into the value of the first entry with this key.
    Key(&'a str),
    /// Into the element at this index.
    Index(usize),
}

/// What to find at the end of the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// The node itself: for a mapping in block style, where its first key
    /// starts.
    Node,
    /// A key of the mapping there, the `occurrence`-th (from 0) with this
    /// name: duplicates are found one by one.
    Key { name: &'a str, occurrence: usize },
}

/// The byte offset in `yaml` where the target is, in its `document`-th
/// document (from 0); `None` when the path leads nowhere.
pub(crate) fn offset(
    yaml: &str,
    document: usize,
    path: &[Step<'_>],
    target: Target<'_>,
) -> Option<usize> {
    let deserializer = serde_yaml::Deserializer::from_str(yaml).nth(document)?;
    match (Seek { path, target }).deserialize(deserializer) {
        Err(error) if error.to_string().contains(ARRIVED) => {
            error.location().map(|location| location.index())
        }
        _ => None,
    }
}

struct Seek<'p> {
    path: &'p [Step<'p>],
    target: Target<'p>,
}

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Seek<'_> {
    fn arrived<E: de::Error>(&self) -> Result<(), E> {
        match (self.path, self.target) {
            ([], Target::Node) => Err(E::custom(ARRIVED)),
            // A key was asked of something that is not a mapping.
            _ => Ok(()),
        }
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (wanted, rest) = match (self.path, self.target) {
            ([], Target::Node) => return Err(de::Error::custom(ARRIVED)),
            ([], Target::Key { name, occurrence }) => {
                let mut to_skip = occurrence;
                while map
                    .next_key_seed(KeySeek {
                        name,
                        to_skip: &mut to_skip,
                    })?
                    .is_some()
                {
                    map.next_value::<IgnoredAny>()?;
                }
                return Ok(());
            }
            ([Step::Key(wanted), rest @ ..], _) => (*wanted, rest),
            ([Step::Index(_), ..], _) => return Ok(()),
        };
        while let Some(key) = map.next_key_seed(KeyText)? {
            if key.as_deref() == Some(wanted) {
                return map.next_value_seed(Seek {
                    path: rest,
                    target: self.target,
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (wanted, rest) = match self.path {
            [] => return self.arrived(),
            [Step::Index(wanted), rest @ ..] => (*wanted, rest),
            [Step::Key(_), ..] => return Ok(()),
        };
        let mut index = 0;
        loop {
            if index == wanted {
                return seq
                    .next_element_seed(Seek {
                        path: rest,
                        target: self.target,
                    })
                    .map(|_| ());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.arrived()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.arrived()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.arrived()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.arrived()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.arrived()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.arrived()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.arrived()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!tag value`): arrived, or nothing below to find.
        let (IgnoredAny, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant::<IgnoredAny>(variant)?;
        self.arrived()
    }
}

/// A mapping key as text; `None` for keys that are not strings.
struct KeyText;

impl<'de> DeserializeSeed<'de> for KeyText {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(KeyVisitor { seek: None })
    }
}

/// A mapping key that fails on arrival when it is the one sought.
struct KeySeek<'a, 'n> {
    name: &'n str,
    to_skip: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for KeySeek<'_, '_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<String>, D::Error> {
        deserializer.deserialize_any(KeyVisitor { seek: Some(self) })
    }
}

struct KeyVisitor<'a, 'n> {
    seek: Option<KeySeek<'a, 'n>>,
}

impl<'de> Visitor<'de> for KeyVisitor<'_, '_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<String>, E> {
        if let Some(seek) = self.seek
            && seek.name == key
        {
            if *seek.to_skip == 0 {
                return Err(E::custom(ARRIVED));
            }
            *seek.to_skip -= 1;
        }
        Ok(Some(key.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<String>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "\
# `reader` in a comment, and `tool: delete_repo` too
principals:
  reader: { scopes: \"mcp:read\" }
  reader: { scopes: \"mcp:write\" }
tests:
  - name: first
    principal: reader
    tool: delete_repo
  - name: second
    principal: reader
    tool: delete_repo
";

    fn at(offset: Option<usize>) -> Option<&'static str> {
        offset
            .and_then(|offset| YAML.get(offset..))
            .map(|rest| rest.lines().next().unwrap_or_default())
    }

    #[test]
    fn finds_values_by_path_not_by_text() {
        let second_tool = offset(
            YAML,
            0,
            &[Step::Key("tests"), Step::Index(1), Step::Key("tool")],
            Target::Node,
        );
        assert_eq!(at(second_tool), Some("delete_repo"));
        // The second test's, not the first's, which has the same text.
        let first_tool = offset(
            YAML,
            0,
            &[Step::Key("tests"), Step::Index(0), Step::Key("tool")],
            Target::Node,
        );
        assert!(first_tool < second_tool);
        assert_eq!(
            at(offset(
                YAML,
                0,
                &[Step::Key("tests"), Step::Index(1)],
                Target::Node
            )),
            Some("name: second")
        );
    }

    #[test]
    fn finds_duplicate_keys_one_by_one() {
        let key = |occurrence| {
            offset(
                YAML,
                0,
                &[Step::Key("principals")],
                Target::Key {
                    name: "reader",
                    occurrence,
                },
            )
        };
        assert_eq!(at(key(0)), Some("reader: { scopes: \"mcp:read\" }"));
        assert_eq!(at(key(1)), Some("reader: { scopes: \"mcp:write\" }"));
        assert_eq!(key(2), None);
    }

    #[test]
    fn a_path_that_leads_nowhere_is_none() {
        assert_eq!(offset(YAML, 0, &[Step::Key("nope")], Target::Node), None);
        assert_eq!(
            offset(YAML, 0, &[Step::Key("tests"), Step::Index(9)], Target::Node),
            None
        );
        assert_eq!(offset(YAML, 0, &[Step::Index(0)], Target::Node), None);
        assert_eq!(offset(YAML, 1, &[], Target::Node), None);
        // A broken document is read as far as it goes, and no further.
        assert_eq!(offset("a: [", 0, &[], Target::Node), Some(0));
        assert_eq!(
            offset("a: [", 0, &[Step::Key("a"), Step::Index(0)], Target::Node),
            None
        );
    }

    #[test]
    fn finds_the_second_document() {
        let yaml = "tests: []\n---\nsecond: 1\n";
        assert_eq!(offset(yaml, 1, &[], Target::Node), Some(14));
    }
}
