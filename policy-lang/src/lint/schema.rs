//! A tool's `inputSchema`, read only as far as the argument lints need:
//! which keys an object declares, a property's `type`, its numeric bounds,
//! and its `enum`/`const`. A schema is the server's to write, so every
//! shape this module does not know (a boolean schema, `anyOf`, a `type`
//! that is not a JSON Schema type, a `$ref` it cannot follow) reads as
//! "says nothing", never as an error: the lints stay quiet rather than
//! guess.

use mcp_policy_table::condition::{Literal, Num};
use serde_json::{Map, Value};

/// Keywords that may declare properties besides `properties` (or make a
/// key valid without it): an object using one is not a closed list.
const OPENING_KEYWORDS: [&str; 10] = [
    "patternProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "dependentSchemas",
    "dependencies",
    "unevaluatedProperties",
    "propertyNames",
];

/// Keywords that only annotate, and may stand beside a `$ref` without
/// changing what it means.
const ANNOTATIONS: [&str; 9] = [
    "description",
    "title",
    "default",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$ref",
];

/// How many `$ref`s one lookup follows: a schema may refer to itself.
const MAX_REFS: usize = 16;

/// What a schema says about the argument at a path.
#[derive(Debug)]
pub(crate) enum Lookup<'s> {
    /// Declared: the property's schema (its `$ref` followed).
    Declared(&'s Map<String, Value>),
    /// The object reached after `depth` keys lists its properties, and
    /// the next key is not one of them.
    Undeclared {
        depth: usize,
        declared: Vec<&'s str>,
    },
    /// The value reached after `depth` keys (at least one) cannot be an
    /// object, so it has no key to read.
    NotAnObject { depth: usize, types: Types },
    /// The schema does not say.
    Unknown,
}

/// Follows the keys of `path` through `properties` from the tool's
/// `inputSchema` (`root`).
pub(crate) fn lookup<'s>(root: &'s Value, path: &[String]) -> Lookup<'s> {
    let mut refs = 0;
    let Some(mut current) = resolve(root, root, &mut refs) else {
        return Lookup::Unknown;
    };
    for (depth, key) in path.iter().enumerate() {
        if depth > 0
            && let Some(types) = Types::of(current)
            && !types.allows(Types::OBJECT)
        {
            return Lookup::NotAnObject { depth, types };
        }
        let properties = current.get("properties").and_then(Value::as_object);
        if let Some(property) = properties.and_then(|properties| properties.get(key)) {
            match resolve(root, property, &mut refs) {
                Some(next) => current = next,
                None => return Lookup::Unknown,
            }
            continue;
        }
        let Some(properties) = properties else {
            return Lookup::Unknown;
        };
        if !is_closed(current) {
            return Lookup::Unknown;
        }
        return Lookup::Undeclared {
            depth,
            declared: properties.keys().map(String::as_str).collect(),
        };
    }
    Lookup::Declared(current)
}

/// `true` when `properties` is the whole list of keys: no keyword adds
/// others, and `additionalProperties` is absent or `false`. Absent counts
/// as closed on purpose: MCP servers seldom write it, yet ignore (or
/// refuse) keys they do not declare, so a condition on one is a slip.
fn is_closed(schema: &Map<String, Value>) -> bool {
    let additional = match schema.get("additionalProperties") {
        None | Some(Value::Bool(false)) => true,
        Some(_) => false,
    };
    additional
        && !OPENING_KEYWORDS
            .iter()
            .any(|keyword| schema.contains_key(*keyword))
}

/// The object a schema node stands for, its local `$ref` (`#/...`)
/// followed; `None` for a boolean schema, a remote or broken `$ref`, or a
/// `$ref` beside keywords that constrain (they would have to be merged).
fn resolve<'s>(
    root: &'s Value,
    mut node: &'s Value,
    refs: &mut usize,
) -> Option<&'s Map<String, Value>> {
    loop {
        let object = node.as_object()?;
        let Some(reference) = object.get("$ref") else {
            return Some(object);
        };
        if object
            .keys()
            .any(|key| !ANNOTATIONS.contains(&key.as_str()))
        {
            return None;
        }
        *refs += 1;
        if *refs > MAX_REFS {
            return None;
        }
        let pointer = reference.as_str()?.strip_prefix('#')?;
        node = root.pointer(pointer)?;
    }
}

/// A property's `type`: a set of JSON Schema types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Types(u8);

impl Types {
    pub const NONE: Types = Types(0);
    pub const NULL: Types = Types(1);
    pub const BOOLEAN: Types = Types(2);
    pub const INTEGER: Types = Types(4);
    pub const NUMBER: Types = Types(8);
    pub const STRING: Types = Types(16);
    pub const ARRAY: Types = Types(32);
    pub const OBJECT: Types = Types(64);
    /// What `==` with another operand compares: strings, numbers, booleans.
    pub const SCALAR: Types = Types(2 | 4 | 8 | 16);
    /// What a number literal can equal.
    pub const NUMERIC: Types = Types(4 | 8);

    const NAMES: [(&'static str, Types); 7] = [
        ("null", Types::NULL),
        ("boolean", Types::BOOLEAN),
        ("integer", Types::INTEGER),
        ("number", Types::NUMBER),
        ("string", Types::STRING),
        ("array", Types::ARRAY),
        ("object", Types::OBJECT),
    ];

    /// The schema's `type`, a name or an array of names; `None` when
    /// absent, empty, or holding anything but JSON Schema's seven names.
    pub fn of(schema: &Map<String, Value>) -> Option<Types> {
        let one = |value: &Value| {
            let name = value.as_str()?;
            Types::NAMES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, types)| *types)
        };
        match schema.get("type")? {
            Value::Array(names) if !names.is_empty() => names
                .iter()
                .try_fold(Types::NONE, |all, name| one(name).map(|t| all.union(t))),
            Value::Array(_) => None,
            name => one(name),
        }
    }

    /// The types a literal has.
    pub fn of_literal(literal: &Literal) -> Types {
        match literal {
            Literal::String(_) => Types::STRING,
            Literal::Number(_) => Types::NUMERIC,
            Literal::Bool(_) => Types::BOOLEAN,
        }
    }

    pub fn union(self, other: Types) -> Types {
        Types(self.0 | other.0)
    }

    pub fn allows(self, other: Types) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether a number that is not an integer can have one of the types.
    pub fn allows_fraction(self) -> bool {
        self.allows(Types::NUMBER)
    }

    /// The names, as a schema writes them: `string or null`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = Types::NAMES
            .iter()
            .filter(|(_, types)| self.allows(*types))
            .map(|(name, _)| *name)
            .collect();
        names.join(" or ")
    }
}

/// One numeric bound of a schema, as the schema writes it.
#[derive(Clone, Debug)]
pub(crate) struct Bound {
    pub value: Num,
    pub exclusive: bool,
    /// The keyword and its value, for messages: `minimum: 0`.
    pub text: String,
}

/// A property's numeric bounds: the lowest and highest value allowed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bounds {
    pub lower: Option<Bound>,
    pub upper: Option<Bound>,
}

impl Bounds {
    /// `minimum`, `maximum`, and `exclusiveMinimum`/`exclusiveMaximum` as
    /// numbers (draft 6 and later) or as booleans qualifying `minimum` and
    /// `maximum` (draft 4). Of two lower bounds, the higher counts.
    pub fn of(schema: &Map<String, Value>) -> Bounds {
        let number = |key: &str| {
            let value = schema.get(key)?;
            let num = Num::from_json(value.as_number()?)?;
            Some((num, format!("{key}: {value}")))
        };
        let flag = |key: &str| schema.get(key).and_then(Value::as_bool) == Some(true);
        let inclusive = |key: &str, draft4: &str| {
            number(key).map(|(value, text)| Bound {
                value,
                exclusive: flag(draft4),
                text: if flag(draft4) {
                    format!("{text}, {draft4}: true")
                } else {
                    text
                },
            })
        };
        let exclusive = |key: &str| {
            number(key).map(|(value, text)| Bound {
                value,
                exclusive: true,
                text,
            })
        };
        let tighter = |a: Option<Bound>, b: Option<Bound>, lower: bool| match (a, b) {
            (Some(a), Some(b)) => {
                let order = a.value.compare(b.value);
                let a_wins = match order {
                    std::cmp::Ordering::Equal => a.exclusive,
                    std::cmp::Ordering::Greater => lower,
                    std::cmp::Ordering::Less => !lower,
                };
                Some(if a_wins { a } else { b })
            }
            (a, b) => a.or(b),
        };
        Bounds {
            lower: tighter(
                exclusive("exclusiveMinimum"),
                inclusive("minimum", "exclusiveMinimum"),
                true,
            ),
            upper: tighter(
                exclusive("exclusiveMaximum"),
                inclusive("maximum", "exclusiveMaximum"),
                false,
            ),
        }
    }

    /// The bound that excludes `value`, if one does.
    pub fn excluding(&self, value: Num) -> Option<&Bound> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let below = self.lower.as_ref().filter(|bound| {
            matches!(
                (value.compare(bound.value), bound.exclusive),
                (Less, _) | (Equal, true)
            )
        });
        let above = self.upper.as_ref().filter(|bound| {
            matches!(
                (value.compare(bound.value), bound.exclusive),
                (Greater, _) | (Equal, true)
            )
        });
        below.or(above)
    }
}

/// The values a schema's `enum` or `const` allows, when it says.
pub(crate) fn allowed_values(schema: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(value) = schema.get("const") {
        return Some(vec![value]);
    }
    match schema.get("enum")? {
        Value::Array(values) if !values.is_empty() => Some(values.iter().collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|key| (*key).to_owned()).collect()
    }

    #[test]
    fn a_declared_key_is_found_through_nested_objects_and_local_refs() {
        let schema = json!({
            "type": "object",
            "properties": {
                "filter": {"$ref": "#/$defs/Filter", "description": "which"},
                "limit": {"type": "integer"}
            },
            "$defs": {"Filter": {"type": "object", "properties": {"owner": {"type": "string"}}}}
        });
        assert!(matches!(
            lookup(&schema, &path(&["limit"])),
            Lookup::Declared(_)
        ));
        assert!(matches!(
            lookup(&schema, &path(&["filter", "owner"])),
            Lookup::Declared(_)
        ));
        assert!(matches!(
            lookup(&schema, &path(&["filter", "ownr"])),
            Lookup::Undeclared { depth: 1, .. }
        ));
        assert!(matches!(
            lookup(&schema, &path(&["limit", "x"])),
            Lookup::NotAnObject { depth: 1, .. }
        ));
    }

    #[test]
    fn an_open_or_unknown_shape_says_nothing() {
        for schema in [
            json!({"type": "object", "properties": {"a": {}}, "additionalProperties": true}),
            json!({"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "string"}}),
            json!({"type": "object", "properties": {"a": {}}, "anyOf": [{"properties": {"b": {}}}]}),
            json!({"type": "object"}),
            json!({"type": "object", "properties": ["a"]}),
            json!(true),
            json!("object"),
            json!({"$ref": "#/nowhere"}),
            json!({"$ref": "#"}),
            json!({"$ref": "https://example.com/schema"}),
        ] {
            assert!(
                matches!(lookup(&schema, &path(&["b"])), Lookup::Unknown),
                "{schema}"
            );
        }
    }

    #[test]
    fn types_are_read_from_a_name_or_a_list() {
        let of = |value: Value| Types::of(value.as_object().unwrap());
        assert_eq!(of(json!({"type": "string"})), Some(Types::STRING));
        assert_eq!(
            of(json!({"type": ["string", "null"]})).map(Types::describe),
            Some("null or string".to_owned())
        );
        assert_eq!(of(json!({"type": ["string", "text"]})), None);
        assert_eq!(of(json!({"type": []})), None);
        assert_eq!(of(json!({"type": 7})), None);
        assert_eq!(of(json!({})), None);
    }

    #[test]
    fn bounds_of_every_draft() {
        let bounds = |value: Value| Bounds::of(value.as_object().unwrap());
        let num = |n: i64| Num::from_json(&n.into()).unwrap();
        let b = bounds(json!({"minimum": 0, "maximum": 100}));
        assert!(b.excluding(num(-1)).is_some());
        assert!(b.excluding(num(0)).is_none());
        assert!(b.excluding(num(100)).is_none());
        assert_eq!(b.excluding(num(101)).unwrap().text, "maximum: 100");
        let b = bounds(json!({"exclusiveMinimum": 0}));
        assert_eq!(b.excluding(num(0)).unwrap().text, "exclusiveMinimum: 0");
        let b = bounds(json!({"minimum": 0, "exclusiveMinimum": true}));
        assert!(b.excluding(num(0)).is_some());
        let b = bounds(json!({"minimum": 5, "exclusiveMinimum": 1}));
        assert_eq!(b.excluding(num(3)).unwrap().text, "minimum: 5");
        let b = bounds(json!({"minimum": "0", "maximum": null}));
        assert!(b.lower.is_none() && b.upper.is_none());
    }
}
