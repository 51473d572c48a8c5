//! An untyped, order-preserving view of the configuration, with the origin of every value.
//!
//! `toml::Table` is a sorted map unless toml's `preserve_order` feature is on, but
//! `client_kwargs` must keep file order (authorization parameters are sent in the order
//! written). toml's deserializer walks tables in document order, so a small serde visitor
//! recovers that order without another dependency. Each value keeps its origin so the rules
//! can name the file (or, for an environment value, the variable) in every error.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::{ConfigError, ConfigSource};

/// toml's private marker for date-times (toml_datetime's `FIELD`).
const TOML_DATETIME_FIELD: &str = "$__toml_private_datetime";

/// A value as TOML (or an environment variable) wrote it.
#[derive(Clone)]
pub(crate) enum RawValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime,
    Array(Vec<RawValue>),
    Table(RawTable),
}

impl RawValue {
    /// "a string", "an integer"… for messages; never the value itself.
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            RawValue::Str(_) => "a string",
            RawValue::Int(_) => "an integer",
            RawValue::Float(_) => "a float",
            RawValue::Bool(_) => "a boolean",
            RawValue::Datetime => "a date-time",
            RawValue::Array(_) => "an array",
            RawValue::Table(_) => "a table",
        }
    }
}

/// Any string may be a secret (`client_secret`, `cookie_secret`), so `Debug` shows strings'
/// lengths only.
impl fmt::Debug for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawValue::Str(s) => write!(f, "Str([{} bytes])", s.len()),
            RawValue::Int(i) => write!(f, "Int({i})"),
            RawValue::Float(x) => write!(f, "Float({x})"),
            RawValue::Bool(b) => write!(f, "Bool({b})"),
            RawValue::Datetime => f.write_str("Datetime"),
            RawValue::Array(items) => f.debug_list().entries(items).finish(),
            RawValue::Table(table) => table.fmt(f),
        }
    }
}

/// A value and where it was written.
#[derive(Clone, Debug)]
pub(crate) struct RawEntry {
    pub(crate) value: RawValue,
    pub(crate) origin: ConfigSource,
}

/// A table's entries in the order written.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawTable {
    pub(crate) entries: Vec<(String, RawEntry)>,
}

/// The document as toml hands it over, before origins are attached.
enum Parsed {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime,
    Array(Vec<Parsed>),
    Table(Vec<(String, Parsed)>),
}

impl Parsed {
    fn into_raw(self, origin: &ConfigSource) -> RawValue {
        match self {
            Parsed::Str(s) => RawValue::Str(s),
            Parsed::Int(i) => RawValue::Int(i),
            Parsed::Float(f) => RawValue::Float(f),
            Parsed::Bool(b) => RawValue::Bool(b),
            Parsed::Datetime => RawValue::Datetime,
            Parsed::Array(items) => {
                RawValue::Array(items.into_iter().map(|p| p.into_raw(origin)).collect())
            }
            Parsed::Table(entries) => RawValue::Table(RawTable {
                entries: entries
                    .into_iter()
                    .map(|(k, p)| {
                        (
                            k,
                            RawEntry {
                                value: p.into_raw(origin),
                                origin: origin.clone(),
                            },
                        )
                    })
                    .collect(),
            }),
        }
    }
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ParsedVisitor)
    }
}

struct ParsedVisitor;

impl<'de> Visitor<'de> for ParsedVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Parsed, E> {
        Ok(Parsed::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Parsed, E> {
        Ok(Parsed::Int(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Parsed, E> {
        i64::try_from(v)
            .map(Parsed::Int)
            .map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Parsed, E> {
        Ok(Parsed::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Parsed, E> {
        Ok(Parsed::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Parsed, E> {
        Ok(Parsed::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Parsed, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Parsed>()? {
            items.push(item);
        }
        Ok(Parsed::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == TOML_DATETIME_FIELD {
                // The value is the date-time's text; nothing in the schema takes a date-time,
                // so only the type is kept (for "expected a string, found a date-time").
                let _ = map.next_value::<String>()?;
                return Ok(Parsed::Datetime);
            }
            let value = map.next_value::<Parsed>()?;
            entries.push((key, value));
        }
        Ok(Parsed::Table(entries))
    }
}

/// Parses a whole secrets.toml document.
pub(crate) fn parse_document(text: &str, origin: &ConfigSource) -> Result<RawTable, ConfigError> {
    match toml::from_str::<Parsed>(text) {
        Ok(Parsed::Table(entries)) => match Parsed::Table(entries).into_raw(origin) {
            RawValue::Table(t) => Ok(t),
            _ => Ok(RawTable::default()),
        },
        Ok(_) => Ok(RawTable::default()),
        Err(e) => Err(ConfigError::Toml {
            origin: origin.clone(),
            message: describe_toml_error(text, &e),
        }),
    }
}

/// The parser's own words plus line and column. toml's `Display` quotes the offending source
/// line, which may be `client_secret = "…"`, so only `message()` and the span are used.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    match err.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = text.get(..end).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = match before.rfind('\n') {
        Some(nl) => before.get(nl + 1..).map_or(0, |s| s.chars().count()) + 1,
        None => before.chars().count() + 1,
    };
    (line, column)
}
