//! `Fields`: a record's field name → value map, packed into one allocation.
//!
//! A sync holds every record of both sides and the last synced values of
//! every link in memory at once (a million of each is a normal migration),
//! so a map of five fields must not cost five node allocations and ten
//! strings. `Fields` stores its entries sorted by name in one byte buffer:
//! for each entry the name's length, the name, the value's length, the
//! value (lengths as LEB128 varints). It behaves as the `BTreeMap<String,
//! String>` it replaces (sorted iteration, JSON object form, structural
//! equality) and holds no vendor knowledge. Lookups scan the entries, which
//! is faster than hashing for the handful of mapped fields a pair has.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// Field name → value, sorted by name, one allocation.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Fields {
    packed: Box<[u8]>,
}

impl Fields {
    pub fn new() -> Fields {
        Fields::default()
    }

    /// The value of `name`, if the map holds it (possibly empty: a base
    /// records an empty value as such).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).map(as_text)
    }

    /// Returns true if and only if this map holds `name` with the value
    /// `record` has for it, a value `record` lacks counting as empty: "is
    /// this base value still the record's value?" Compares bytes only.
    pub fn holds_value_of(&self, name: &str, record: &Fields) -> bool {
        self.raw(name)
            .is_some_and(|value| value == record.raw(name).unwrap_or_default())
    }

    /// The undecoded value of `name`.
    fn raw(&self, name: &str) -> Option<&[u8]> {
        let mut rest = &self.packed[..];
        while !rest.is_empty() {
            let (key, after_key) = split_text(rest);
            let (value, after_value) = split_text(after_key);
            if key == name.as_bytes() {
                return Some(value);
            }
            rest = after_value;
        }
        None
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.packed.is_empty()
    }

    /// Entries in name order.
    pub fn iter(&self) -> Entries<'_> {
        Entries { rest: &self.packed }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }

    /// Sets `name` to `value`, replacing any value it had.
    pub fn insert(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let (name, value) = (name.as_ref(), value.as_ref());
        let mut packer = Packer::with_capacity(self.packed.len() + name.len() + value.len() + 4);
        let mut placed = false;
        for (k, v) in self.iter() {
            if !placed && k >= name {
                packer.push(name, value);
                placed = true;
                if k == name {
                    continue;
                }
            }
            packer.push(k, v);
        }
        if !placed {
            packer.push(name, value);
        }
        *self = packer.finish();
    }

    /// Removes `name`; returns true if and only if it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        if !self.contains_key(name) {
            return false;
        }
        let mut packer = Packer::with_capacity(self.packed.len());
        for (k, v) in self.iter().filter(|(k, _)| *k != name) {
            packer.push(k, v);
        }
        *self = packer.finish();
        true
    }
}

/// Builds a packed buffer from entries already in strictly increasing name
/// order.
struct Packer {
    buf: Vec<u8>,
}

impl Packer {
    fn with_capacity(capacity: usize) -> Packer {
        Packer {
            buf: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, name: &str, value: &str) {
        for text in [name, value] {
            write_len(&mut self.buf, text.len());
            self.buf.extend_from_slice(text.as_bytes());
        }
    }

    fn finish(self) -> Fields {
        Fields {
            packed: self.buf.into_boxed_slice(),
        }
    }
}

fn write_len(buf: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        buf.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    buf.push(len as u8);
}

/// Splits one length-prefixed string off the front of `bytes`.
fn split_text(bytes: &[u8]) -> (&[u8], &[u8]) {
    let (mut len, mut shift, mut at) = (0usize, 0, 0);
    loop {
        let b = bytes[at];
        at += 1;
        len |= usize::from(b & 0x7f) << shift;
        if b < 0x80 {
            break;
        }
        shift += 7;
    }
    bytes[at..].split_at(len)
}

fn as_text(bytes: &[u8]) -> &str {
    // Every slice was written from a `&str` by `Packer::push`, and is read
    // back at exactly the boundaries it was written with.
    std::str::from_utf8(bytes).expect("a packed field holds the UTF-8 it was given")
}

/// The entries of a `Fields`, in name order.
pub struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.rest.is_empty() {
            return None;
        }
        let (name, rest) = split_text(self.rest);
        let (value, rest) = split_text(rest);
        self.rest = rest;
        Some((as_text(name), as_text(value)))
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a str);
    type IntoIter = Entries<'a>;

    fn into_iter(self) -> Entries<'a> {
        self.iter()
    }
}

impl std::ops::Index<&str> for Fields {
    type Output = str;

    fn index(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("no field {name:?} in {self:?}"))
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Fields {
    /// Later entries win over earlier ones with the same name.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Fields {
        let mut sorted: Vec<(K, V)> = entries.into_iter().collect();
        // Stable, so the last of several equal names is last in its run.
        sorted.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
        let mut packer = Packer::with_capacity(
            sorted
                .iter()
                .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 2)
                .sum(),
        );
        for (i, (k, v)) in sorted.iter().enumerate() {
            let superseded = sorted
                .get(i + 1)
                .is_some_and(|(next, _)| next.as_ref() == k.as_ref());
            if !superseded {
                packer.push(k.as_ref(), v.as_ref());
            }
        }
        packer.finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> From<[(K, V); N]> for Fields {
    fn from(entries: [(K, V); N]) -> Fields {
        entries.into_iter().collect()
    }
}

impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of field names to string values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        // Files are written in name order, so entries are packed as they
        // come; anything else (hand-edited, duplicated) is sorted after.
        let mut packer = Packer::with_capacity(128);
        let mut previous: Option<Text<'de>> = None;
        let mut in_order = true;
        while let Some((Text(name), Text(value))) = map.next_entry::<Text<'de>, Text<'de>>()? {
            if let Some(Text(before)) = &previous {
                in_order &= before.as_ref() < name.as_ref();
            }
            packer.push(&name, &value);
            previous = Some(Text(name));
        }
        let fields = packer.finish();
        Ok(if in_order {
            fields
        } else {
            fields.iter().collect()
        })
    }
}

/// A JSON string, borrowed from the input when it has no escapes (serde's
/// own `Cow<str>` always copies).
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text<'de>, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_a_sorted_map() {
        let mut f = Fields::new();
        assert!(f.is_empty() && f.get("a").is_none());
        f.insert("phone", "1");
        f.insert("email", "a@x.io");
        f.insert("name", "");
        f.insert("phone", "2");
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [("email", "a@x.io"), ("name", ""), ("phone", "2")]
        );
        assert_eq!(f.get("name"), Some(""), "an empty value is kept as such");
        let record: Fields = [("email", "a@x.io")].into();
        assert!(f.holds_value_of("email", &record) && f.holds_value_of("name", &record));
        assert!(!f.holds_value_of("phone", &record) && !f.holds_value_of("x", &record));
        assert_eq!(&f["email"], "a@x.io");
        assert!(f.remove("name") && !f.remove("name"));
        assert_eq!(f.len(), 2);
        let long = "x".repeat(300);
        f.insert(&long, &long);
        assert_eq!(f.get(&long), Some(long.as_str()));
        assert_eq!(f.get("phone"), Some("2"));
        let same: Fields = [("phone", "2"), ("email", "a@x.io"), (&long, &long)].into();
        assert_eq!(f, same);
        let later_wins: Fields = [("a", "1"), ("a", "2")].into();
        assert_eq!(later_wins.iter().collect::<Vec<_>>(), [("a", "2")]);
    }

    #[test]
    fn round_trips_as_a_json_object_in_any_order() {
        let f: Fields = [("é", "ü\"\\"), ("a", "1")].into();
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(text, r#"{"a":"1","é":"ü\"\\"}"#);
        assert_eq!(serde_json::from_str::<Fields>(&text).unwrap(), f);
        let shuffled: Fields = serde_json::from_str(r#"{"é":"ü\"\\","a":"0","a":"1"}"#).unwrap();
        assert_eq!(shuffled, f);
        let as_map: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            as_map.iter().collect::<Fields>(),
            f,
            "the same form as a map"
        );
        assert!(serde_json::from_str::<Fields>(r#"{"a":1}"#).is_err());
    }
}
