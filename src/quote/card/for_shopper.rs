//! The card for one shopper, without rendering again what every shopper gets alike.
//!
//! A campaign sends many messages about few orders, and a part of the card that names
//! neither `openid` nor `quote_url` renders the same for every shopper of one order.
//! Such parts are rendered once per template version and order and kept; only the rest
//! (as a rule the link alone) is rendered per message, over the shopper's two variables
//! and those of the order's that it names. With the default card that is one render of
//! four, and the order's variables (which cost half as much as the four renders) are
//! built once an order, not once a message.
//!
//! What is kept is never stale: a card template reads variables only by name (no `set`,
//! calls or macros: see [`safety`](super::safety)), so the names a part uses, known once
//! it is compiled, are all its output depends on; a saved template is a new version
//! under a new id, never an edited one; an order never changes once created; and the
//! service's base address is fixed for the life of the process.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use minijinja::Value;
use minijinja::value::Object;
use url::Url;

use super::{Compiled, Part, TemplateError, order_vars};
use crate::quote::orders::Order;
use crate::wechat::message::Article;

/// The names that differ from one shopper to another.
pub const PER_SHOPPER: [&str; 2] = ["openid", "quote_url"];

/// What one order's cards share under one template version.
struct Shared {
    /// The order's variables that the parts rendered per shopper name.
    vars: Value,
    /// Each part that names no per-shopper variable, rendered (or why it would not);
    /// `None` for the others.
    parts: [Option<Result<String, TemplateError>>; 4],
    /// About how many bytes this holds, for the cache's bound.
    weight: u32,
}

/// The parts kept, by template version and order.
#[derive(Clone)]
pub struct Renders {
    kept: moka::sync::Cache<(i64, i64), Arc<Shared>>,
}

/// Kept at most: the default card's three shared parts are about 300 bytes an order,
/// so tens of thousands of orders in play; a part may render to 16 KiB, and the bound
/// is by size so that large cards keep fewer orders rather than more memory.
const MAX_BYTES: u64 = 8 * 1024 * 1024;

impl Default for Renders {
    fn default() -> Self {
        Renders {
            kept: moka::sync::Cache::builder()
                .weigher(|_, shared: &Arc<Shared>| shared.weight)
                .max_capacity(MAX_BYTES)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
        }
    }
}

impl Renders {
    /// The card `card` renders for `openid` about `order`: the same as
    /// [`Compiled::render`] over [`context_for`](super::context_for) gives.
    pub fn render(
        &self,
        card: &Compiled,
        order: &Order,
        openid: &str,
        quote_url: &str,
        base_url: &Url,
    ) -> Result<Article, TemplateError> {
        let shared = self.kept.get_with((card.id, order.id), || {
            Arc::new(share(card, order, base_url))
        });
        let context = Value::from_object(Shopper {
            order: shared.vars.clone(),
            openid: Value::from(openid),
            quote_url: Value::from(quote_url),
        });
        let [title, description, pic_url, link]: [Result<String, TemplateError>; 4] =
            std::array::from_fn(|i| match &shared.parts[i] {
                Some(kept) => kept.clone(),
                None => card.render_part(Part::ALL[i], &context),
            });
        Compiled::assemble(title, description, pic_url, link)
    }
}

fn share(card: &Compiled, order: &Order, base_url: &Url) -> Shared {
    let all = Value::from(order_vars(order, base_url));
    let parts =
        Part::ALL.map(|part| (!card.names_a_shopper(part)).then(|| card.render_part(part, &all)));
    // Only what the per-shopper parts read is kept (with the default card, nothing).
    let vars: BTreeMap<String, Value> = card
        .named_beside_a_shopper()
        .filter_map(|name| {
            let value = all.get_attr(name).ok().filter(|v| !v.is_undefined())?;
            Some((name.to_owned(), value))
        })
        .collect();
    let kept_vars: usize = vars
        .iter()
        .map(|(name, value)| name.len() + 64 + value.as_str().map_or(0, str::len))
        .sum();
    let rendered: usize = parts.iter().flatten().flatten().map(String::len).sum();
    Shared {
        vars: Value::from(vars),
        parts,
        weight: u32::try_from(256 + kept_vars + rendered).unwrap_or(u32::MAX),
    }
}

/// The context of a per-shopper part: the order's variables and the shopper's own.
#[derive(Debug)]
struct Shopper {
    order: Value,
    openid: Value,
    quote_url: Value,
}

impl Object for Shopper {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "openid" => Some(self.openid.clone()),
            "quote_url" => Some(self.quote_url.clone()),
            name => self.order.get_attr(name).ok().filter(|v| !v.is_undefined()),
        }
    }
}
