//! Code generators for the two shapes that recur all over the Mesos protos.
//!
//! * [`wire_enum!`] — a proto `enum`: JSON carries the SCREAMING name as a
//!   string, protobuf carries the number. Generates `as_str`, `number`,
//!   `from_number`, `FromStr`, `Display` and serde impls. Enums whose proto
//!   has an `UNKNOWN = 0` member may name a fallback variant so that values
//!   added by newer Mesos versions parse instead of failing (this is what
//!   Mesos itself does for optional enum fields, see MESOS-4997).
//! * [`proto_union!`] — the protobuf "union trick" (`type` + one optional
//!   field per type) used by every `Call`, `Event` and `Response`. Generates
//!   the `…Type` tag enum, a Rust enum holding the payload of each kind, and
//!   borrowed/owned wire structs so serialization never clones a payload.
//!
//! This module owns no types of its own; it only removes the boilerplate so
//! each message is declared exactly once.

/// Declares a proto enum. See the module docs.
///
/// ```text
/// wire_enum! {
///     /// Docs.
///     pub enum TaskState {
///         Staging(TASK_STAGING = 6),
///         Starting(TASK_STARTING = 0),
///     }
/// }
/// // or, with a fallback for values this crate does not know yet:
/// wire_enum! { pub enum Kind { Unknown(UNKNOWN = 0), A(A = 1) } unknown => Unknown }
/// ```
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $Name:ident {
            $( $(#[$vmeta:meta])* $Variant:ident ($TAG:ident = $num:literal) ),+ $(,)?
        }
        $( unknown => $Fallback:ident )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $Name {
            $( $(#[$vmeta])* $Variant ),+
        }

        impl $Name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$Name] = &[$( $Name::$Variant ),+];

            /// The JSON names of every member, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($TAG) ),+];

            /// The proto name, as it appears in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $Name::$Variant => stringify!($TAG) ),+
                }
            }

            /// The proto number, as it appears in protobuf encoding.
            pub fn number(self) -> i32 {
                match self {
                    $( $Name::$Variant => $num ),+
                }
            }

            /// The member with proto number `number`, if any.
            pub fn from_number(number: i32) -> Option<Self> {
                match number {
                    $( $num => Some($Name::$Variant), )+
                    _ => None,
                }
            }
        }

        impl ::std::str::FromStr for $Name {
            type Err = $crate::macros::UnknownEnumValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( stringify!($TAG) => Ok($Name::$Variant), )+
                    _ => Err($crate::macros::UnknownEnumValue {
                        enum_name: stringify!($Name),
                        value: s.to_owned(),
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $Name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $Name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $Name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl ::serde::de::Visitor<'_> for Visitor {
                    type Value = $Name;

                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "a {} name", stringify!($Name))
                    }

                    fn visit_str<E: ::serde::de::Error>(self, s: &str) -> Result<$Name, E> {
                        match s.parse::<$Name>() {
                            Ok(v) => Ok(v),
                            Err(_) => wire_enum!(@unknown $Name, s, E $(, $Fallback)?),
                        }
                    }
                }
                d.deserialize_str(Visitor)
            }
        }
    };

    (@unknown $Name:ident, $s:ident, $E:ident) => {
        Err(<$E as ::serde::de::Error>::unknown_variant($s, $Name::NAMES))
    };
    (@unknown $Name:ident, $s:ident, $E:ident, $Fallback:ident) => {
        Ok($Name::$Fallback)
    };
}

/// Declares a protobuf "union" message (`type` + one payload field per
/// type). See the module docs.
///
/// Generates, for `Body / Type / WireIn / WireOut`:
/// * `Type`: the tag enum (strict: an unknown tag is a parse error);
/// * `Body`: one variant per tag, holding the payload when the tag has one;
/// * `WireIn`: the owned JSON shape, used for deserializing;
/// * `WireOut<'a>`: the borrowed JSON shape, used for serializing;
/// * `Body::kind`, `Body::to_wire`, `WireIn::into_body`.
///
/// A payload written `=> field: Type [optional]` may be absent on the wire
/// (the body is then `Type::default()`); other payloads are required.
///
/// `extras { name: Type }` adds message-level fields that are not part of
/// the union (e.g. `Call.framework_id`); they are `Option` on the wire and
/// handled by the hand-written outer type. Write `serde` after the name list
/// to also derive `Serialize`/`Deserialize` for `Body` itself (only for
/// messages without extras).
macro_rules! proto_union {
    (
        $(#[$bmeta:meta])*
        pub enum $Body:ident / $Type:ident / $WireIn:ident / $WireOut:ident $([$serde:ident])? {
            extras { $( $extra:ident : $ExtraTy:ty ),* $(,)? }
            $(
                $(#[$vmeta:meta])*
                $Variant:ident ($TAG:ident = $num:literal)
                    $( => $field:ident : $Payload:ty $([$optional:ident])? )?
            ),+ $(,)?
        }
    ) => {
        wire_enum! {
            #[doc = concat!("The `type` tag of a [`", stringify!($Body), "`].")]
            pub enum $Type {
                $( $(#[$vmeta])* $Variant($TAG = $num) ),+
            }
        }

        $(#[$bmeta])*
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum $Body {
            $( $(#[$vmeta])* $Variant $( ($Payload) )? ),+
        }

        impl $Body {
            /// The `type` tag this body is sent with.
            pub fn kind(&self) -> $Type {
                match self {
                    $( $Body::$Variant { .. } => $Type::$Variant ),+
                }
            }

            /// The borrowed wire shape of this body plus the given extras.
            #[allow(clippy::too_many_arguments, dead_code)]
            pub(crate) fn to_wire<'a>(&'a self $(, $extra: Option<&'a $ExtraTy>)*) -> $WireOut<'a> {
                #[allow(unused_mut)]
                let mut out = $WireOut {
                    kind: self.kind(),
                    $( $extra, )*
                    $( $( $field: None, )? )+
                };
                match self {
                    $( $Body::$Variant $( ($field) )? => { $( out.$field = Some($field); )? } )+
                }
                out
            }
        }

        #[doc = concat!("Owned JSON shape of [`", stringify!($Body), "`].")]
        #[derive(::serde::Deserialize, Default)]
        #[allow(dead_code)]
        pub(crate) struct $WireIn {
            #[serde(rename = "type", default)]
            pub(crate) kind: Option<$Type>,
            $( #[serde(default)] pub(crate) $extra: Option<$ExtraTy>, )*
            $( $( #[serde(default)] pub(crate) $field: Option<$Payload>, )? )+
        }

        impl $WireIn {
            /// Checks that the field named by `type` is present and moves
            /// it into the body. Extras are left for the caller.
            #[allow(dead_code)]
            pub(crate) fn into_body(self) -> Result<$Body, String> {
                let kind = self.kind.ok_or_else(|| {
                    format!("{} is missing its `type` field", stringify!($Body))
                })?;
                match kind {
                    $(
                        $Type::$Variant => Ok($Body::$Variant $( (
                            proto_union!(@take self.$field, $field, $Body, $TAG $(, $optional)?)
                        ) )?),
                    )+
                }
            }
        }

        #[doc = concat!("Borrowed JSON shape of [`", stringify!($Body), "`].")]
        #[derive(::serde::Serialize)]
        pub(crate) struct $WireOut<'a> {
            #[serde(rename = "type")]
            pub(crate) kind: $Type,
            $(
                #[serde(skip_serializing_if = "Option::is_none")]
                pub(crate) $extra: Option<&'a $ExtraTy>,
            )*
            $( $(
                #[serde(skip_serializing_if = "Option::is_none")]
                pub(crate) $field: Option<&'a $Payload>,
            )? )+
        }

        proto_union!(@serde $Body, $WireIn $(, $serde)?);
    };

    (@take $value:expr, $field:ident, $Body:ident, $TAG:ident) => {
        $value.ok_or_else(|| format!(
            "{} of type {} is missing its `{}` field",
            stringify!($Body), stringify!($TAG), stringify!($field),
        ))?
    };
    (@take $value:expr, $field:ident, $Body:ident, $TAG:ident, optional) => {
        $value.unwrap_or_default()
    };

    (@serde $Body:ident, $WireIn:ident) => {};
    (@serde $Body:ident, $WireIn:ident, serde) => {
        impl ::serde::Serialize for $Body {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.to_wire().serialize(s)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $Body {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let wire = <$WireIn as ::serde::Deserialize>::deserialize(d)?;
                wire.into_body().map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}

/// A string that names no member of a proto enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {enum_name}")]
pub struct UnknownEnumValue {
    /// The Rust name of the enum.
    pub enum_name: &'static str,
    /// The string that was given.
    pub value: String,
}
