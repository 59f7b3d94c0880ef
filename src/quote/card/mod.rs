//! The message card: minijinja sources for the article's title, description, picture
//! and link, stored in the database (the newest version is in force), and the one
//! render that the outbox's sends, the passive reply and the console's preview share.
//!
//! Rendering is strict: a field the order does not have is an error, not an empty
//! string, so a typo never sends a card with holes in it; and a link or picture that
//! does not render to an http(s) address is an error too, so no card ever carries a
//! `javascript:` link, whatever the template's conditions chose. [`versions`] edits the
//! template; every error is a [`TemplateError`] naming the part, the line and what was
//! wrong, for the console to say in words.

pub mod for_shopper;
mod in_force;
pub mod safety;
pub mod versions;

use std::collections::{BTreeMap, BTreeSet};

use entity::template;
use minijinja::{Environment, UndefinedBehavior, Value};
use url::Url;

pub use in_force::Cards;

use super::orders::Order;
use super::orders::view::{derived, figure, item_lines};
use crate::AppError;
use crate::wechat::message::Article;

/// The card the service sends unless a site owner configured another.
pub const DEFAULT_TITLE: &str = "您的报价已保存：{{ building_area }}㎡ 仅需 {{ total_money }} 元";
pub const DEFAULT_DESCRIPTION: &str = "建筑面积：{{ building_area }}㎡\n我们的报价：{{ total_money }} 元\n市场价：{{ market_money }} 元\n为您节省：{{ saved_money }} 元\n点击查看报价详情";
pub const DEFAULT_PIC_URL: &str = "{{ base_url }}static/card.png";
pub const DEFAULT_LINK: &str = "{{ quote_url }}";

/// The four parts of a card's template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Title,
    Description,
    PicUrl,
    Link,
}

impl Part {
    /// In the order of their discriminants: what is kept per part (`Compiled`,
    /// `for_shopper`) is indexed by a part's place here, taken as `part as usize`.
    pub const ALL: [Part; 4] = [Part::Title, Part::Description, Part::PicUrl, Part::Link];

    /// The part's name as the console labels it.
    pub fn zh(self) -> &'static str {
        match self {
            Part::Title => "标题",
            Part::Description => "描述",
            Part::PicUrl => "图片地址",
            Part::Link => "链接",
        }
    }

    /// The part's name in the API (the field of the request body).
    pub fn field(self) -> &'static str {
        match self {
            Part::Title => "title",
            Part::Description => "description",
            Part::PicUrl => "pic_url",
            Part::Link => "link",
        }
    }

    fn source(self, tpl: &template::Model) -> &str {
        match self {
            Part::Title => &tpl.title,
            Part::Description => &tpl.description,
            Part::PicUrl => &tpl.pic_url,
            Part::Link => &tpl.link,
        }
    }
}

const _: () = {
    let mut i = 0;
    while i < Part::ALL.len() {
        assert!(
            Part::ALL[i] as usize == i,
            "Part::ALL is in discriminant order"
        );
        i += 1;
    }
};

/// What was wrong with a template. Each says itself in Chinese ([`TemplateProblem::zh`],
/// the one place its words are written), from its kind and what it holds, never from
/// minijinja's English.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateProblem {
    /// It does not parse: the text around where parsing stopped (empty at the end).
    Syntax(String),
    /// It names a field the order does not have.
    UnknownField(String),
    /// It parses but did not render: what kind of failure, and the text around it.
    Render(minijinja::ErrorKind, String),
    /// The part is empty (only the title must have text).
    Required,
    /// The source is longer than [`versions::MAX_PART_CHARS`].
    TooLong,
    /// The link (or a non-empty picture) rendered to something other than an http(s)
    /// address.
    NotHttp(String),
    /// It uses something a card may not (see [`safety`]): what, as written.
    NotAllowed(String),
    /// Rendering took more steps than a card needs ([`FUEL`]).
    TooMuchWork,
    /// A part rendered to more than [`MAX_OUTPUT_BYTES`].
    OutputTooLong,
}

/// A template refused: which part, which line of it (when minijinja knows), and why:
/// "标题第 1 行：订单里没有 foo 这个字段".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}：{}", part.zh(), line.map(|l| format!("第 {l} 行")).unwrap_or_default(), problem.zh())]
pub struct TemplateError {
    pub part: Part,
    pub line: Option<usize>,
    pub problem: TemplateProblem,
}

impl TemplateProblem {
    pub fn zh(&self) -> String {
        use minijinja::ErrorKind as K;
        match self {
            TemplateProblem::Syntax(near) if near.is_empty() => {
                "写法不完整：结尾少了 }} 或 %}，或者 {% if %}、{% for %} 没有对应的结束标记".into()
            }
            TemplateProblem::Syntax(near) => format!("写法有误，在“{near}”附近"),
            TemplateProblem::UnknownField(name) => format!("订单里没有 {name} 这个字段"),
            TemplateProblem::Render(kind, near) => {
                let what = match kind {
                    K::InvalidOperation => "这个运算用在了不合适的值上",
                    K::MissingArgument => "少了参数",
                    K::TooManyArguments => "参数太多",
                    K::CannotUnpack => "取不出值",
                    K::CannotDeserialize | K::BadSerialization => "值的类型不对",
                    _ => "无法生成内容",
                };
                match near.as_str() {
                    "" => what.to_owned(),
                    near => format!("{what}，在“{near}”处"),
                }
            }
            TemplateProblem::Required => "不能为空".into(),
            TemplateProblem::TooLong => "不能超过 2000 个字符".into(),
            TemplateProblem::NotHttp(got) => {
                format!("必须生成以 http:// 或 https:// 开头的地址，现在是“{got}”")
            }
            TemplateProblem::NotAllowed(what) => format!("消息模板里不能使用 {what}"),
            TemplateProblem::TooMuchWork => "计算步骤太多（循环嵌套过深）".into(),
            TemplateProblem::OutputTooLong => "生成的内容超过 16 KB".into(),
        }
    }
}

impl From<TemplateError> for AppError {
    fn from(e: TemplateError) -> Self {
        AppError::bad_field(e.part.field(), e.to_string())
    }
}

/// Steps one render of one part may take: a card with a hundred items takes a few
/// thousand; a loop nested in loops is cut short long before it could stall a thread.
pub const FUEL: u64 = 20_000;
/// What one part may render to at most.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// A writer that refuses to hold more than [`MAX_OUTPUT_BYTES`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT_BYTES {
            return Err(std::io::Error::other("output cap"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A template version with its four parts parsed, ready to render many times: parsing
/// is most of the cost of a render, and every message is rendered.
pub struct Compiled {
    pub id: i64,
    env: Environment<'static>,
    /// By [`Part`], whether it names `openid` or `quote_url` (see `for_shopper`).
    per_shopper: [bool; 4],
    /// The other variables those parts name.
    named_beside_a_shopper: BTreeSet<String>,
}

impl Compiled {
    /// Parses all four parts, after checking each keeps to what a card may do.
    pub fn new(tpl: &template::Model) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        for part in Part::ALL {
            safety::check(part.source(tpl)).map_err(|refused| TemplateError {
                part,
                line: Some(refused.line),
                problem: TemplateProblem::NotAllowed(refused.what),
            })?;
            env.add_template_owned(part.field(), part.source(tpl).to_owned())
                .map_err(|e| TemplateError {
                    part,
                    line: e.line(),
                    problem: TemplateProblem::Syntax(near(part.source(tpl), &e)),
                })?;
        }
        let mut named_beside_a_shopper = BTreeSet::new();
        let per_shopper = Part::ALL.map(|part| {
            let tpl = env
                .get_template(part.field())
                .expect("every part was added");
            let mut names = tpl.undeclared_variables(false);
            let per_shopper = for_shopper::PER_SHOPPER
                .iter()
                .any(|&name| names.remove(name));
            if per_shopper {
                named_beside_a_shopper.extend(names);
            }
            per_shopper
        });
        Ok(Compiled {
            id: tpl.id,
            env,
            per_shopper,
            named_beside_a_shopper,
        })
    }

    /// Renders all four parts for `ctx` (see [`context_for`]) into the card to send.
    pub fn render(&self, ctx: &Value) -> Result<Article, TemplateError> {
        Self::assemble(
            self.render_part(Part::Title, ctx),
            self.render_part(Part::Description, ctx),
            self.render_part(Part::PicUrl, ctx),
            self.render_part(Part::Link, ctx),
        )
    }

    /// Whether `part` names a variable that differs from shopper to shopper.
    pub fn names_a_shopper(&self, part: Part) -> bool {
        self.per_shopper[part as usize]
    }

    /// The other variables that the parts naming a shopper's variable name.
    pub fn named_beside_a_shopper(&self) -> impl Iterator<Item = &str> {
        self.named_beside_a_shopper.iter().map(String::as_str)
    }

    /// One part rendered for `ctx`, trimmed.
    fn render_part(&self, part: Part, ctx: &Value) -> Result<String, TemplateError> {
        let tpl = self
            .env
            .get_template(part.field())
            .expect("every part was added");
        let mut out = Capped(Vec::new());
        tpl.render_captured_to(ctx, &mut out)
            .map(drop)
            .map_err(|e| TemplateError {
                part,
                line: e.line(),
                problem: match e.kind() {
                    minijinja::ErrorKind::UndefinedError => {
                        TemplateProblem::UnknownField(first_unknown(&tpl, ctx))
                    }
                    minijinja::ErrorKind::OutOfFuel => TemplateProblem::TooMuchWork,
                    minijinja::ErrorKind::WriteFailure => TemplateProblem::OutputTooLong,
                    kind => TemplateProblem::Render(kind, near(tpl.source(), &e)),
                },
            })?;
        Ok(String::from_utf8_lossy(&out.0).trim().to_owned())
    }

    /// The card from its rendered parts, once its link and picture are http(s)
    /// addresses; else the first error of the title, the description, the link and the
    /// picture, in that order.
    fn assemble(
        title: Result<String, TemplateError>,
        description: Result<String, TemplateError>,
        pic_url: Result<String, TemplateError>,
        link: Result<String, TemplateError>,
    ) -> Result<Article, TemplateError> {
        let article = Article {
            title: title?,
            description: description?,
            url: link?,
            picurl: pic_url?,
        };
        if !is_http(&article.url) {
            return Err(not_http(Part::Link, &article.url));
        }
        if !(article.picurl.is_empty() || is_http(&article.picurl)) {
            return Err(not_http(Part::PicUrl, &article.picurl));
        }
        Ok(article)
    }
}

/// An `http://` or `https://` address with something after the scheme. Checked on
/// every send, so by its prefix rather than by parsing a URL: what must never pass is
/// another scheme (`javascript:`, `data:`), and WeChat refuses the rest itself.
fn is_http(address: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        address.len() > scheme.len()
            && address.is_char_boundary(scheme.len())
            && address[..scheme.len()].eq_ignore_ascii_case(scheme)
            && !address[scheme.len()..].starts_with('/')
    })
}

fn not_http(part: Part, rendered: &str) -> TemplateError {
    TemplateError {
        part,
        line: None,
        problem: TemplateProblem::NotHttp(rendered.chars().take(80).collect()),
    }
}

/// The source text minijinja's error points at (at most 30 characters), or nothing
/// when it points past the end.
fn near(source: &str, e: &minijinja::Error) -> String {
    let Some(range) = e.range() else {
        return String::new();
    };
    let start = range.start.min(source.len());
    let end = range.end.clamp(start, source.len());
    match (source.get(start..end), source.get(start..)) {
        (Some(span), _) if !span.trim().is_empty() => span.trim().chars().take(30).collect(),
        (_, Some(rest)) => rest.trim().chars().take(30).collect(),
        _ => String::new(),
    }
}

/// The first variable the template uses that `ctx` lacks (what a strict render
/// stumbled on), by name.
fn first_unknown(tpl: &minijinja::Template<'_, '_>, ctx: &Value) -> String {
    let mut unknown: Vec<String> = tpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| ctx.get_attr(name).map_or(true, |v| v.is_undefined()))
        .collect();
    unknown.sort();
    unknown.into_iter().next().unwrap_or_default()
}

/// What a template can use: each of the order's fields by its name, as people read it
/// (`{{ total_money }}` is `12800`, a date `2026年12月1日`), the article's derived
/// figures when the order has what they come from (`market_money`, `building_area`),
/// `items` (each with `name`, `quantity`, `unit_price`, `amount`), `external_id`,
/// `order_id`, the shopper's `openid`, the signed `quote_url` and the service's
/// `base_url`.
pub fn context_for(order: &Order, openid: &str, quote_url: &str, base_url: &Url) -> Value {
    let mut vars = order_vars(order, base_url);
    vars.insert("openid".into(), Value::from(openid));
    vars.insert("quote_url".into(), Value::from(quote_url));
    Value::from(vars)
}

/// What [`context_for`] gives but the shopper's own: the same for every shopper.
fn order_vars(order: &Order, base_url: &Url) -> BTreeMap<String, Value> {
    let mut vars: BTreeMap<String, Value> = order
        .fields
        .iter()
        .map(figure)
        .chain(derived(order))
        .map(|f| (f.name, Value::from(f.value)))
        .collect();
    vars.insert("order_id".into(), Value::from(order.id));
    vars.insert(
        "external_id".into(),
        Value::from(order.external_id.clone().unwrap_or_default()),
    );
    vars.insert("items".into(), Value::from_serialize(item_lines(order)));
    vars.insert("base_url".into(), Value::from(base_url.as_str()));
    vars
}

#[cfg(test)]
mod tests;
