use thiserror::Error;

/// Why a string could not become a validated value. It names the kind of value, the
/// input, and the rule broken, so an API error or CLI message can be shown as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {what} {input:?}: {rule}")]
pub struct ParseError {
    pub what: &'static str,
    pub input: String,
    pub rule: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, rule: impl Into<String>) -> Self {
        // Very long inputs are cut so an error message stays readable in a log line.
        let input = if input.len() > 200 {
            let mut end = 200;
            while !input.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &input[..end])
        } else {
            input.to_owned()
        };
        Self { what, input, rule: rule.into() }
    }
}

/// Declares a string newtype whose only constructor is `parse`, with Display, FromStr,
/// and serde through the same validation (so JSON cannot smuggle in an invalid value).
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $validate:path) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const WHAT: &'static str = $what;

            pub fn parse(input: &str) -> Result<Self, $crate::ParseError> {
                $validate(input).map_err(|rule| $crate::ParseError::new($what, input, rule))?;
                Ok(Self(input.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// Lets maps keyed by the newtype be searched with a `&str` without
        /// allocating (hashing and ordering are the inner string's).
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::ParseError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        $crate::error::string_schema!($name, concat!("A valid ", $what, "."));

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use string_newtype;

/// An OpenAPI schema of a value that travels as a string (ids, ARNs, money).
macro_rules! string_schema {
    ($t:ty, $desc:expr) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($desc))
                    .into()
            }
        }
        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $t {}
    };
}
pub(crate) use string_schema;
