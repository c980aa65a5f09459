//! Small shared messages of `mesos.proto`: `Value` and its parts, attributes,
//! labels, parameters, time and duration, addresses and URLs.
//!
//! Owns only their JSON shapes. Arithmetic on scalars, ranges and sets lives
//! in [`crate::resources`].

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::encoding::double;

wire_enum! {
    /// `Value.Type`: which of the value fields is set.
    pub enum ValueType {
        /// A floating point amount (`cpus`, `mem`, `disk`).
        Scalar(SCALAR = 0),
        /// A list of inclusive integer ranges (`ports`).
        Ranges(RANGES = 1),
        /// A set of strings.
        Set(SET = 2),
        /// Free text (attributes only).
        Text(TEXT = 3),
    }
}

/// `Value.Scalar`. Mesos keeps three decimal digits of precision; see
/// [`crate::resources::fixed_point`].
///
/// Serialized as `{"value": x}`; non-finite values as `"Infinity"` etc.
/// Input also accepts a bare number or `"Infinity"` (how task `limits` are
/// often written by hand).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scalar {
    /// The amount.
    pub value: f64,
}

impl Scalar {
    /// Wraps an amount.
    pub fn new(value: f64) -> Self {
        Self { value }
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// Routes the field through [`double`] so infinities survive.
        struct Double(f64);
        impl Serialize for Double {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                double::serialize(&self.0, s)
            }
        }
        let mut st = s.serialize_struct("Scalar", 1)?;
        st.serialize_field("value", &Double(self.value))?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Value.Scalar ({\"value\": number}) or a bare number")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "value" {
                        value = Some(map.next_value::<DoubleField>()?.0);
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                value
                    .map(Scalar::new)
                    .ok_or_else(|| de::Error::missing_field("value"))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::new(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::new(v as f64))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::new(v as f64))
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                double::DoubleVisitor.visit_str(s).map(Scalar::new)
            }
        }
        d.deserialize_any(V)
    }
}

/// A `double` field that also accepts `"Infinity"` and numeric strings.
struct DoubleField(f64);

impl<'de> Deserialize<'de> for DoubleField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        double::deserialize(d).map(DoubleField)
    }
}

/// `Value.Range`: an inclusive range `[begin, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Range {
    /// First member.
    pub begin: u64,
    /// Last member (inclusive).
    pub end: u64,
}

impl Range {
    /// `[begin, end]`.
    pub fn new(begin: u64, end: u64) -> Self {
        Self { begin, end }
    }
}

/// `Value.Ranges`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ranges {
    /// The ranges. Mesos' JSON field name is the singular `range`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<Range>,
}

/// `Value.Set`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Set {
    /// The members. Mesos' JSON field name is the singular `item`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<String>,
}

/// `Value.Text`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub value: String,
}

/// `Value`: a typed union of scalar, ranges, set or text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Value {
    /// Which field below is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// Set when `kind` is SCALAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// Set when `kind` is RANGES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// Set when `kind` is SET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Set when `kind` is TEXT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

/// `Attribute`: a named, typed property of an agent (`rack:r1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Which field below is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// Set when `kind` is SCALAR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// Set when `kind` is RANGES.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// Set when `kind` is SET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Set when `kind` is TEXT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}

impl Attribute {
    /// A TEXT attribute.
    pub fn text(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ValueType::Text,
            scalar: None,
            ranges: None,
            set: None,
            text: Some(Text {
                value: value.into(),
            }),
        }
    }

    /// A SCALAR attribute.
    pub fn scalar(name: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            kind: ValueType::Scalar,
            scalar: Some(Scalar::new(value)),
            ranges: None,
            set: None,
            text: None,
        }
    }
}

/// `Label`: a free-form key/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Label {
    /// Key.
    pub key: String,
    /// Value; optional in the proto.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `Labels`: a list of [`Label`]s, wrapped as `{"labels": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Labels {
    /// The labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<Label>,
}

impl Labels {
    /// The value of the first label with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.key == key)
            .and_then(|l| l.value.as_deref())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Self {
            labels: iter
                .into_iter()
                .map(|(k, v)| Label {
                    key: k.into(),
                    value: Some(v.into()),
                })
                .collect(),
        }
    }
}

/// `Parameter`: a key/value pair (docker parameters, URL query).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Parameter {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `Parameters`: `{"parameter": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Parameters {
    /// The parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameter: Vec<Parameter>,
}

/// `TimeInfo`: nanoseconds since the epoch.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct TimeInfo {
    /// Nanoseconds since the Unix epoch.
    pub nanoseconds: i64,
}

impl TimeInfo {
    /// From seconds since the epoch (as in `TaskStatus.timestamp`).
    pub fn from_secs_f64(secs: f64) -> Self {
        Self {
            nanoseconds: (secs * 1e9).round() as i64,
        }
    }

    /// Seconds since the epoch.
    pub fn as_secs_f64(self) -> f64 {
        self.nanoseconds as f64 / 1e9
    }
}

/// `DurationInfo`: a duration in nanoseconds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct DurationInfo {
    /// Nanoseconds.
    pub nanoseconds: i64,
}

impl DurationInfo {
    /// From a [`std::time::Duration`], saturating at `i64::MAX` ns.
    pub fn from_duration(d: std::time::Duration) -> Self {
        Self {
            nanoseconds: i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        }
    }

    /// As a [`std::time::Duration`]; negative durations become zero.
    pub fn to_duration(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.nanoseconds).unwrap_or(0))
    }
}

/// `Address`: host and/or IP plus port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    /// Hostname, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// IP address (v4 or v6), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// TCP port.
    pub port: i32,
}

/// `URL`: used for `Offer.url` (how to reach the agent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port.
    pub address: Address,
    /// Path, e.g. `/slave(1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Query parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<Parameter>,
    /// Fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_forms() {
        let s: Scalar = serde_json::from_str(r#"{"value": 1.5}"#).unwrap();
        assert_eq!(s.value, 1.5);
        let bare: Scalar = serde_json::from_str("2").unwrap();
        assert_eq!(bare.value, 2.0);
        let inf: Scalar = serde_json::from_str(r#""Infinity""#).unwrap();
        assert!(inf.value.is_infinite());
        assert_eq!(
            serde_json::to_string(&inf).unwrap(),
            r#"{"value":"Infinity"}"#
        );
        assert_eq!(
            serde_json::to_string(&Scalar::new(0.5)).unwrap(),
            r#"{"value":0.5}"#
        );
    }

    #[test]
    fn attribute_text_round_trip() {
        let json = r#"{"name":"os","type":"TEXT","text":{"value":"ubuntu16.04"}}"#;
        let a: Attribute = serde_json::from_str(json).unwrap();
        assert_eq!(a, Attribute::text("os", "ubuntu16.04"));
        assert_eq!(serde_json::to_string(&a).unwrap(), json);
    }

    #[test]
    fn unknown_value_type_is_an_error() {
        let err = serde_json::from_str::<ValueType>(r#""BLOB""#).unwrap_err();
        assert!(err.to_string().contains("BLOB"), "{err}");
    }

    #[test]
    fn labels_lookup() {
        let l: Labels = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
    }
}
