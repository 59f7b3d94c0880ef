//! The deserializer behind [`super::json`] and [`super::form`]: it reads a parsed
//! `Value`, knows at each step which type was asked for and where it is, and so
//! builds a [`Problem`] that says both.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{Kind, Problem};

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "空值",
        Value::Bool(_) => "真假值",
        Value::Number(_) => "数字",
        Value::String(_) => "文字",
        Value::Array(_) => "列表",
        Value::Object(_) => "对象",
    }
}

/// Reads one value, knowing where it is. `text`: a form's, where every value is text
/// and numbers and booleans are read from it.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    value: &'a Value,
    path: &'a str,
    text: bool,
}

// A `Reader` borrows its path from its parent; the child's path is built where the
// child is made (see `Fields` and `Items`), owned there for as long as the child lives.
#[allow(clippy::needless_lifetimes)]
impl<'a> Reader<'a> {
    pub(super) fn top(value: &'a Value, text: bool) -> Self {
        Reader {
            value,
            path: "",
            text,
        }
    }

    fn expected(&self, wanted: &'static str) -> Problem {
        Problem {
            kind: Kind::Expected {
                wanted,
                got: kind_of(self.value),
            },
            path: Some(self.path.to_owned()),
        }
    }

    /// The value as a number, from a JSON number or (in a form) its text.
    fn number(&self) -> Option<Number> {
        match self.value {
            Value::Number(n) => n
                .as_u64()
                .map(Number::U)
                .or_else(|| n.as_i64().map(Number::I))
                .or_else(|| n.as_f64().map(Number::F)),
            Value::String(s) if self.text => {
                let s = s.trim();
                s.parse()
                    .map(Number::U)
                    .or_else(|_| s.parse().map(Number::I))
                    .or_else(|_| s.parse().map(Number::F))
                    .ok()
            }
            _ => None,
        }
    }
}

enum Number {
    U(u64),
    I(i64),
    F(f64),
}

macro_rules! numbers {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
            let path = self.path;
            match self.number() {
                Some(Number::U(n)) => visitor.visit_u64(n),
                Some(Number::I(n)) => visitor.visit_i64(n),
                Some(Number::F(n)) => visitor.visit_f64(n),
                None => return Err(self.expected("数字")),
            }
            .map_err(|e: Problem| e.at(path))
        }
    )*};
}

impl<'de, 'a> de::Deserializer<'de> for Reader<'a> {
    type Error = Problem;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let path = self.path;
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(_) => return self.deserialize_f64(visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Items::new(items, self)),
            Value::Object(fields) => visitor.visit_map(Fields::new(fields, self)),
        }
        .map_err(|e: Problem| e.at(path))
    }

    numbers!(
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_f32,
        deserialize_f64
    );

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        let b = match self.value {
            Value::Bool(b) => *b,
            Value::String(s) if self.text => match s.as_str() {
                "1" | "true" | "on" | "yes" => true,
                "" | "0" | "false" | "off" | "no" => false,
                _ => return Err(self.expected("是或否")),
            },
            _ => return Err(self.expected("是或否（true / false）")),
        };
        visitor.visit_bool(b).map_err(|e: Problem| e.at(self.path))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.value {
            Value::String(s) => visitor.visit_str(s).map_err(|e: Problem| e.at(self.path)),
            _ => Err(self.expected("文字")),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.value {
            Value::Null => visitor.visit_none(),
            // An empty form field is an absent one.
            Value::String(s) if self.text && s.is_empty() => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e: Problem| e.at(self.path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.value {
            Value::Array(items) => visitor
                .visit_seq(Items::new(items, self))
                .map_err(|e: Problem| e.at(self.path)),
            _ => Err(self.expected("列表")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Problem> {
        match self.value {
            Value::Object(fields) => visitor
                .visit_map(Fields::new(fields, self))
                .map_err(|e: Problem| e.at(self.path)),
            _ => Err(self.expected("对象")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        self.deserialize_map(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Problem> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        match self.value {
            Value::String(s) => visitor
                .visit_enum(s.as_str().into_deserializer())
                .map_err(|e: Problem| e.at(self.path)),
            Value::Object(fields) if fields.len() == 1 => {
                let (key, value) = fields.iter().next().expect("one field");
                let path = match self.path {
                    "" => key.clone(),
                    p => format!("{p}.{key}"),
                };
                visitor
                    .visit_enum(Variant {
                        key,
                        value,
                        path,
                        text: self.text,
                    })
                    .map_err(|e: Problem| e.at(self.path))
            }
            _ => Err(self.expected("可选值之一")),
        }
    }

    serde::forward_to_deserialize_any! {
        u128 i128 bytes byte_buf unit unit_struct tuple tuple_struct identifier ignored_any
    }
}

/// An enum written as `{"variant": value}`.
struct Variant<'a> {
    key: &'a str,
    value: &'a Value,
    path: String,
    text: bool,
}

impl<'de, 'a> de::EnumAccess<'de> for Variant<'a> {
    type Error = Problem;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Problem> {
        let key: de::value::StrDeserializer<'_, Problem> = self.key.into_deserializer();
        Ok((seed.deserialize(key)?, self))
    }
}

impl<'de, 'a> de::VariantAccess<'de> for Variant<'a> {
    type Error = Problem;

    fn unit_variant(self) -> Result<(), Problem> {
        match self.value {
            Value::Null => Ok(()),
            _ => Err(self.reader().expected("空值")),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Problem> {
        seed.deserialize(self.reader())
            .map_err(|e: Problem| e.at(&self.path))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Problem> {
        de::Deserializer::deserialize_seq(self.reader(), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Problem> {
        de::Deserializer::deserialize_map(self.reader(), visitor)
    }
}

impl Variant<'_> {
    fn reader(&self) -> Reader<'_> {
        Reader {
            value: self.value,
            path: &self.path,
            text: self.text,
        }
    }
}

/// An object's fields, each read at its own path.
struct Fields<'a> {
    iter: serde_json::map::Iter<'a>,
    parent: Reader<'a>,
    next: Option<(&'a String, &'a Value)>,
}

impl<'a> Fields<'a> {
    fn new(fields: &'a Map<String, Value>, parent: Reader<'a>) -> Self {
        Fields {
            iter: fields.iter(),
            parent,
            next: None,
        }
    }
}

impl<'de, 'a> MapAccess<'de> for Fields<'a> {
    type Error = Problem;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Problem> {
        match self.iter.next() {
            Some((key, value)) => {
                self.next = Some((key, value));
                let key: de::value::StrDeserializer<'_, Problem> = key.as_str().into_deserializer();
                seed.deserialize(key).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Problem> {
        let (key, value) = self.next.take().expect("a value follows its key");
        let path = match self.parent.path {
            "" => key.clone(),
            p => format!("{p}.{key}"),
        };
        seed.deserialize(Reader {
            value,
            path: &path,
            text: self.parent.text,
        })
        .map_err(|e: Problem| e.at(&path))
    }
}

/// A list's items, each read at its own path.
struct Items<'a> {
    iter: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
    parent: Reader<'a>,
}

impl<'a> Items<'a> {
    fn new(items: &'a [Value], parent: Reader<'a>) -> Self {
        Items {
            iter: items.iter().enumerate(),
            parent,
        }
    }
}

impl<'de, 'a> SeqAccess<'de> for Items<'a> {
    type Error = Problem;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Problem> {
        let Some((i, value)) = self.iter.next() else {
            return Ok(None);
        };
        let path = format!("{}[{i}]", self.parent.path);
        seed.deserialize(Reader {
            value,
            path: &path,
            text: self.parent.text,
        })
        .map(Some)
        .map_err(|e: Problem| e.at(&path))
    }
}
