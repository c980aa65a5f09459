//! JSON encodings of proto scalar types that JSON has no native form for.
//!
//! Owns [`Base64Bytes`] (proto `bytes`, carried as a base64 string) and the
//! serde helpers for proto `double` values that may be infinite (Mesos
//! writes `"Infinity"` for an unlimited task resource limit). Everything
//! else in the v1 types uses plain serde derives.

use std::fmt;
use std::ops::Deref;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use bytes::Bytes;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Standard alphabet, padding optional, non-zero trailing bits tolerated:
/// clients differ on padding, and the Mesos docs' own sample UUIDs are not
/// canonical base64. Mesos' decoder is equally forgiving.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A proto `bytes` field. JSON carries it as a standard base64 string;
/// we emit it padded and canonical, and accept it with or without padding.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Base64Bytes(pub Bytes);

impl Base64Bytes {
    /// Wraps raw bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// Decodes a base64 string (standard alphabet, padding optional).
    pub fn from_base64(text: &str) -> Result<Self, base64::DecodeError> {
        LENIENT.decode(text).map(|v| Self(Bytes::from(v)))
    }

    /// The base64 form, as it goes on the wire.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Deref for Base64Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Base64Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Base64Bytes {
    fn from(v: Vec<u8>) -> Self {
        Self(Bytes::from(v))
    }
}

impl From<&[u8]> for Base64Bytes {
    fn from(v: &[u8]) -> Self {
        Self(Bytes::copy_from_slice(v))
    }
}

impl From<Bytes> for Base64Bytes {
    fn from(v: Bytes) -> Self {
        Self(v)
    }
}

impl fmt::Debug for Base64Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Base64Bytes({})", self.to_base64())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Base64Bytes;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }

            fn visit_str<E: de::Error>(self, s: &str) -> Result<Base64Bytes, E> {
                Base64Bytes::from_base64(s).map_err(|e| E::custom(format!("invalid base64: {e}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// Serde helpers for a proto `double` that may be infinite or NaN.
///
/// Finite values are JSON numbers; the non-finite ones are the strings
/// `"Infinity"`, `"-Infinity"` and `"NaN"` (the protobuf JSON mapping).
/// Input additionally accepts numbers written as strings.
pub(crate) mod double {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(DoubleVisitor)
    }

    pub(crate) struct DoubleVisitor;

    impl Visitor<'_> for DoubleVisitor {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number, \"Infinity\", \"-Infinity\" or \"NaN\"")
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            Ok(v as f64)
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
            match s {
                "Infinity" | "inf" | "+Infinity" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                "NaN" | "nan" => Ok(f64::NAN),
                other => other
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(other), &self)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_lenient_padding() {
        let b = Base64Bytes::from(&b"hello"[..]);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(json, "\"aGVsbG8=\"");
        assert_eq!(serde_json::from_str::<Base64Bytes>(&json).unwrap(), b);
        assert_eq!(
            serde_json::from_str::<Base64Bytes>("\"aGVsbG8\"").unwrap(),
            b
        );
        assert!(serde_json::from_str::<Base64Bytes>("\"***\"").is_err());
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct D {
        #[serde(with = "double")]
        v: f64,
    }

    #[test]
    fn doubles_accept_infinity_and_strings() {
        let inf: D = serde_json::from_str(r#"{"v":"Infinity"}"#).unwrap();
        assert!(inf.v.is_infinite());
        assert_eq!(serde_json::to_string(&inf).unwrap(), r#"{"v":"Infinity"}"#);
        let n: D = serde_json::from_str(r#"{"v":"1.5"}"#).unwrap();
        assert_eq!(n.v, 1.5);
        let i: D = serde_json::from_str(r#"{"v":2}"#).unwrap();
        assert_eq!(serde_json::to_string(&i).unwrap(), r#"{"v":2.0}"#);
    }
}
