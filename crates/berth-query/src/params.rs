//! The request side: an `application/x-www-form-urlencoded` body of
//! flattened members (`Name=web`, `Targets.member.1.Id=10.0.0.1`,
//! `Matcher.HttpCode=200`) read back as named members, lists and nested structures.
//!
//! Every member a handler reads is remembered, so [`Params::finish`] can refuse a
//! request carrying a member Berth would otherwise silently ignore.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use crate::error::{lower_first, QueryError};

/// The members of one request, or of one structure inside it.
#[derive(Clone, Debug)]
pub struct Params {
    inner: Arc<Inner>,
    /// `""` for the request; `Targets.member.1.` for a structure inside it.
    prefix: String,
}

#[derive(Debug)]
struct Inner {
    values: BTreeMap<String, String>,
    read: Mutex<BTreeSet<String>>,
}

impl Params {
    /// Decodes a form-encoded body. Later occurrences of a key win.
    pub fn parse(body: &[u8]) -> Result<Params, QueryError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| QueryError::Validation("The request body is not UTF-8.".into()))?;
        let mut values = BTreeMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            values.insert(decode_component(key)?, decode_component(value)?);
        }
        Ok(Params::from_map(values))
    }

    /// The form-encoded body of `pairs`, as a client sends it ([`Params::parse`] reads
    /// it back).
    pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{}={}", encode_component(k), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Members given as key/value pairs (tests, in-process callers).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Params {
        Params::from_map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn from_map(values: BTreeMap<String, String>) -> Params {
        Params {
            inner: Arc::new(Inner {
                values,
                read: Mutex::new(BTreeSet::new()),
            }),
            prefix: String::new(),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn mark(&self, key: &str) {
        self.inner
            .read
            .lock()
            .expect("read-set lock")
            .insert(key.to_string());
    }

    /// The member's path as AWS names it in messages (`targets.member.1.id`).
    fn path(&self, name: &str) -> String {
        self.key(name)
            .split('.')
            .map(lower_first)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// A string member.
    pub fn string(&self, name: &str) -> Option<String> {
        let key = self.key(name);
        let value = self.inner.values.get(&key).cloned();
        if value.is_some() {
            self.mark(&key);
        }
        value
    }

    /// A member by its full flattened name (`Tags.member.1.Key`), without counting it
    /// as read: for a look at a request before its handler reads it.
    pub fn peek(&self, flattened: &str) -> Option<String> {
        self.inner.values.get(&self.key(flattened)).cloned()
    }

    /// A string member that must be present.
    pub fn required(&self, name: &str) -> Result<String, QueryError> {
        self.string(name)
            .ok_or_else(|| QueryError::missing(&self.path(name)))
    }

    /// An integer member.
    pub fn int(&self, name: &str) -> Result<Option<i64>, QueryError> {
        match self.string(name) {
            None => Ok(None),
            Some(text) => text.trim().parse::<i64>().map(Some).map_err(|_| {
                QueryError::Validation(format!(
                    "Value '{text}' at '{}' is not a valid integer",
                    self.path(name)
                ))
            }),
        }
    }

    /// An integer member within `min..=max` (AWS's model constraints).
    pub fn int_in(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, QueryError> {
        let value = self.int(name)?;
        if let Some(v) = value {
            if v < min {
                return Err(QueryError::constraint(
                    v,
                    &self.path(name),
                    &format!("Member must have value greater than or equal to {min}"),
                ));
            }
            if v > max {
                return Err(QueryError::constraint(
                    v,
                    &self.path(name),
                    &format!("Member must have value less than or equal to {max}"),
                ));
            }
        }
        Ok(value)
    }

    /// A boolean member (`true` / `false`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, QueryError> {
        match self.string(name).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(QueryError::Validation(format!(
                "Value '{other}' at '{}' is not a valid boolean",
                self.path(name)
            ))),
        }
    }

    /// The member indexes of list `name` (`name.member.N...`), in numeric order, and
    /// whether the list was given at all (`name=` is an empty list).
    fn indexes(&self, name: &str) -> Result<Option<Vec<u32>>, QueryError> {
        let key = self.key(name);
        let member = format!("{key}.member.");
        let mut found = BTreeSet::new();
        for k in self.inner.values.keys() {
            let Some(rest) = k.strip_prefix(&member) else {
                continue;
            };
            let index = rest.split('.').next().unwrap_or("");
            match index.parse::<u32>() {
                Ok(n) if n >= 1 => {
                    found.insert(n);
                }
                _ => {
                    return Err(QueryError::Validation(format!(
                        "'{k}' is not a valid list member: members are numbered from 1"
                    )))
                }
            }
        }
        if found.is_empty() {
            return Ok(match self.inner.values.get(&key) {
                Some(v) if v.is_empty() => {
                    self.mark(&key);
                    Some(Vec::new())
                }
                _ => None,
            });
        }
        Ok(Some(found.into_iter().collect()))
    }

    /// A list of strings, `None` when absent.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, QueryError> {
        let Some(indexes) = self.indexes(name)? else {
            return Ok(None);
        };
        indexes
            .into_iter()
            .map(|n| self.required(&format!("{name}.member.{n}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A list of structures, `None` when absent.
    pub fn structs(&self, name: &str) -> Result<Option<Vec<Params>>, QueryError> {
        Ok(self.indexes(name)?.map(|indexes| {
            indexes
                .into_iter()
                .map(|n| self.nested(&format!("{name}.member.{n}")))
                .collect()
        }))
    }

    /// A nested structure, `None` when none of its members is given.
    pub fn structure(&self, name: &str) -> Option<Params> {
        let nested = self.nested(name);
        let present = self
            .inner
            .values
            .range(nested.prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&nested.prefix));
        present.then_some(nested)
    }

    fn nested(&self, name: &str) -> Params {
        Params {
            inner: self.inner.clone(),
            prefix: format!("{}{name}.", self.prefix),
        }
    }

    /// Refuses members no handler read: Berth does not pretend to honour them.
    pub fn finish(&self, action: &str) -> Result<(), QueryError> {
        let read = self.inner.read.lock().expect("read-set lock");
        let unread: Vec<&str> = self
            .inner
            .values
            .keys()
            .filter(|k| !read.contains(*k))
            .map(String::as_str)
            .collect();
        if unread.is_empty() {
            return Ok(());
        }
        Err(QueryError::Validation(format!(
            "{action} does not take the parameter(s) {}, or Berth does not support them",
            unread.join(", ")
        )))
    }
}

/// One form component: `+` is a space, `%XX` a byte; the bytes must be UTF-8.
/// Everything but RFC 3986's unreserved characters is percent-encoded.
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, FORM).to_string()
}

fn decode_component(text: &str) -> Result<String, QueryError> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| QueryError::Validation(format!("'{text}' does not decode to UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_pairs_parse_back_to_themselves() {
        let pairs = [
            ("Action", "PutRolePolicy"),
            (
                "PolicyDocument",
                r#"{"Statement": [{"Action": "logs:*", "Resource": "a+b&c=d %"}]}"#,
            ),
            ("Name", "ünïcode/ok~"),
        ];
        let p = Params::parse(Params::encode(pairs).as_bytes()).unwrap();
        for (k, v) in pairs {
            assert_eq!(p.string(k).as_deref(), Some(v));
        }
    }

    #[test]
    fn decodes_form_bodies() {
        let p = Params::parse(
            b"Action=CreateRule&Conditions.member.1.Values.member.1=%2Fapi%2F*&Name=a+b&Empty=",
        )
        .unwrap();
        assert_eq!(p.string("Action").as_deref(), Some("CreateRule"));
        assert_eq!(p.string("Name").as_deref(), Some("a b"));
        assert_eq!(p.string("Empty").as_deref(), Some(""));
        let conditions = p.structs("Conditions").unwrap().unwrap();
        assert_eq!(conditions.len(), 1);
        assert_eq!(
            conditions[0].strings("Values").unwrap().unwrap(),
            vec!["/api/*"]
        );
        assert!(p.finish("CreateRule").is_ok());
        assert!(Params::parse(b"Name=%ff").is_err());
    }

    #[test]
    fn lists_follow_member_numbers_not_key_order() {
        let p = Params::from_pairs([
            ("Names.member.10", "ten"),
            ("Names.member.2", "two"),
            ("Names.member.1", "one"),
        ]);
        assert_eq!(
            p.strings("Names").unwrap().unwrap(),
            vec!["one", "two", "ten"]
        );
        assert_eq!(p.strings("Other").unwrap(), None);
        let empty = Params::from_pairs([("Names", "")]);
        assert_eq!(empty.strings("Names").unwrap(), Some(vec![]));
        let bad = Params::from_pairs([("Names.member.0", "x")]);
        assert!(bad.strings("Names").is_err());
    }

    #[test]
    fn nested_structures_and_lists_of_structures() {
        let p = Params::from_pairs([
            ("Targets.member.1.Id", "10.0.0.1"),
            ("Targets.member.1.Port", "80"),
            ("Targets.member.2.Id", "10.0.0.2"),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn",
                "a",
            ),
            (
                "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight",
                "3",
            ),
            ("Matcher.HttpCode", "200-299"),
        ]);
        let targets = p.structs("Targets").unwrap().unwrap();
        assert_eq!(targets[0].required("Id").unwrap(), "10.0.0.1");
        assert_eq!(targets[0].int("Port").unwrap(), Some(80));
        assert_eq!(targets[1].int("Port").unwrap(), None);
        let action = &p.structs("DefaultActions").unwrap().unwrap()[0];
        let forward = action.structure("ForwardConfig").unwrap();
        let groups = forward.structs("TargetGroups").unwrap().unwrap();
        assert_eq!(groups[0].int("Weight").unwrap(), Some(3));
        assert!(action.structure("RedirectConfig").is_none());
        assert_eq!(
            p.structure("Matcher")
                .unwrap()
                .string("HttpCode")
                .as_deref(),
            Some("200-299")
        );
        let e = targets[1].required("AvailabilityZone").unwrap_err();
        assert!(
            e.message().contains("'targets.member.2.availabilityZone'"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn typed_members_are_checked() {
        let p = Params::from_pairs([("Port", "eighty"), ("Enabled", "yes"), ("Interval", "3")]);
        assert_eq!(p.int("Port").unwrap_err().code(), "ValidationError");
        assert_eq!(p.bool("Enabled").unwrap_err().code(), "ValidationError");
        let e = p.int_in("Interval", 5, 300).unwrap_err();
        assert!(
            e.message().contains("greater than or equal to 5"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn unread_members_are_refused() {
        let p = Params::from_pairs([("Name", "x"), ("Bogus", "1")]);
        p.string("Name");
        let e = p.finish("CreateTargetGroup").unwrap_err();
        assert!(e.message().contains("Bogus"), "{}", e.message());
    }
}
