//! The list call's wire format (`GET /v1/Customers`, docs/api.md): the page size asked for, the query
//! ([`query`]), and a page parsed into just the id and the fifteen fields of each
//! item (everything else skipped unparsed). Used by `export` and by `--key`'s lookups.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use uuid::Uuid;

use crate::customer::{FIELD_COUNT, Field};

/// The query of page `number` (from 1) of the list call, with a search (`searchField`,
/// `searchValue`) and a reseller if given: built in this one place, form-encoded by `url`, for
/// export and for `--key`'s lookups alike.
pub fn query(number: u64, search: Option<(&str, &str)>, reseller: Option<Uuid>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("pageNumber", &number.to_string())
        .append_pair("pageSize", &PAGE_SIZE.to_string());
    if let Some((field, value)) = search {
        q.append_pair("searchField", field)
            .append_pair("searchValue", value);
    }
    if let Some(r) = reseller {
        q.append_pair("resellerId", &r.to_string());
    }
    q.finish()
}

/// One customer of a page: its id and the fifteen fields, as text. Parsed straight from the
/// page, field by field, so the parts of an item ccbulk does not write (providerCustomers,
/// customerAssociations, anything undocumented) are skipped without being built in memory.
#[derive(Debug, Default, PartialEq)]
pub struct Item {
    /// `id`, as it came (a GUID, normally).
    pub id: Option<String>,
    pub fields: [Option<String>; FIELD_COUNT],
}

/// A page of the list call. Only `items` is required: the rest is used when present (docs/api.md
/// documents it; a missing one falls back, see [`Page::has_next`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    #[serde(alias = "Items")]
    pub items: Vec<Item>,
    #[serde(default, alias = "TotalCount")]
    pub total_count: Option<u64>,
    #[serde(default, alias = "TotalPages")]
    pub total_pages: Option<u64>,
    #[serde(default, alias = "HasNextPage")]
    pub has_next_page: Option<bool>,
}

impl Page {
    /// Whether another page follows page `number`: `hasNextPage` when given, else `totalPages`,
    /// else whether this page was full.
    pub fn has_next(&self, number: u64) -> bool {
        match (self.has_next_page, self.total_pages) {
            (Some(next), _) => next,
            (None, Some(pages)) => number < pages,
            (None, None) => self.items.len() >= PAGE_SIZE,
        }
    }
}

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a customer object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
                let mut item = Item::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = if key.eq_ignore_ascii_case("id") {
                        Some(&mut item.id)
                    } else {
                        Field::ALL
                            .iter()
                            .find(|f| f.wire().eq_ignore_ascii_case(&key))
                            .map(|f| &mut item.fields[f.index()])
                    };
                    match slot {
                        Some(slot) => *slot = map.next_value::<Loose>()?.0,
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(item)
            }
        }
        d.deserialize_map(ItemVisitor)
    }
}

/// A field's value as text, whatever JSON type it came as: a string as it is, a number or a
/// boolean as written, null as none. An object or array (not a documented shape for these
/// fields) counts as none rather than failing the page.
struct Loose(Option<String>);

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
        struct LooseVisitor;
        impl<'de> Visitor<'de> for LooseVisitor {
            type Value = Loose;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a text, a number, a boolean or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Loose, E> {
                Ok(Loose(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose, E> {
                Ok(Loose(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
                Ok(Loose(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
                Ok(Loose(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
        }
        d.deserialize_any(LooseVisitor)
    }
}

/// The page size asked for: the largest the API serves (docs/api.md), so the fewest calls.
pub(crate) const PAGE_SIZE: usize = 2000;
