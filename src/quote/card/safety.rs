//! What a card template may do, so that no template can hurt the service.
//!
//! A site owner writes templates; a template is a program, and a minijinja program can
//! loop a hundred million times, build a 100 MB string in one step (`'x' * 99999999`)
//! or double a string on every `{% set %}`. A card needs none of that: it fills in an
//! order's fields, chooses with `if`, and lists the order's items. So a template is
//! held to that subset before it is stored or rendered: text, `{{ … }}`, `{% if %}`
//! and `{% for %}` over what the order gives, comparisons, `and`/`or`/`not`, `~` and
//! `+` (whose results grow only with the source, there being no `set`), and a short
//! list of filters and tests that cannot grow their input more than linearly. No
//! `set`, macros, includes, calls, `*` or `**`. Within that, each render also has a
//! step budget (fuel) and each part's output a cap (see `Compiled`), so a loop nested
//! in loops over long fields is cut short instead of stalling a worker thread.

use minijinja::machinery::ast::{BinOpKind, CallArg, Expr, Stmt};
use minijinja::machinery::{WhitespaceConfig, parse};
use minijinja::syntax::SyntaxConfig;

/// Filters a card may use: none grows its input by more than a bounded factor.
pub const FILTERS: [&str; 18] = [
    "upper",
    "lower",
    "title",
    "capitalize",
    "trim",
    "default",
    "d",
    "length",
    "count",
    "first",
    "last",
    "join",
    "replace",
    "round",
    "abs",
    "int",
    "truncate",
    "escape",
];
/// Tests a card may use.
pub const TESTS: [&str; 8] = [
    "defined",
    "undefined",
    "none",
    "number",
    "string",
    "true",
    "false",
    "eq",
];

/// What a template used that a card may not, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    /// The construct, as the owner wrote it (`{% set %}`, `*`, `range(…)`).
    pub what: String,
    pub line: usize,
}

/// Checks `source` against the subset; `Ok` also when it does not parse (compiling it
/// then says why, with minijinja's own reason).
pub fn check(source: &str) -> Result<(), NotAllowed> {
    let Ok(ast) = parse(source, "card", SyntaxConfig, WhitespaceConfig::default()) else {
        return Ok(());
    };
    stmt(&ast)
}

fn refuse(what: impl Into<String>, line: u16) -> Result<(), NotAllowed> {
    Err(NotAllowed {
        what: what.into(),
        line: usize::from(line),
    })
}

fn stmts(list: &[Stmt<'_>]) -> Result<(), NotAllowed> {
    list.iter().try_for_each(stmt)
}

fn stmt(s: &Stmt<'_>) -> Result<(), NotAllowed> {
    match s {
        Stmt::Template(t) => stmts(&t.children),
        Stmt::EmitRaw(_) => Ok(()),
        Stmt::EmitExpr(e) => expr(&e.expr),
        Stmt::IfCond(c) => {
            expr(&c.expr)?;
            stmts(&c.true_body)?;
            stmts(&c.false_body)
        }
        Stmt::ForLoop(f) => {
            if f.recursive {
                return refuse("{% for … recursive %}", f.span().start_line);
            }
            expr(&f.iter)?;
            if let Some(filter) = &f.filter_expr {
                expr(filter)?;
            }
            stmts(&f.body)?;
            stmts(&f.else_body)
        }
        Stmt::Set(x) => refuse("{% set %}", x.span().start_line),
        Stmt::SetBlock(x) => refuse("{% set %}", x.span().start_line),
        Stmt::WithBlock(x) => refuse("{% with %}", x.span().start_line),
        Stmt::AutoEscape(x) => refuse("{% autoescape %}", x.span().start_line),
        Stmt::FilterBlock(x) => refuse("{% filter %}", x.span().start_line),
        Stmt::Block(x) => refuse("{% block %}", x.span().start_line),
        Stmt::Import(x) => refuse("{% import %}", x.span().start_line),
        Stmt::FromImport(x) => refuse("{% from … import %}", x.span().start_line),
        Stmt::Extends(x) => refuse("{% extends %}", x.span().start_line),
        Stmt::Include(x) => refuse("{% include %}", x.span().start_line),
        Stmt::Macro(x) => refuse("{% macro %}", x.span().start_line),
        Stmt::CallBlock(x) => refuse("{% call %}", x.span().start_line),
        Stmt::Do(x) => refuse("{% do %}", x.span().start_line),
        #[allow(unreachable_patterns)]
        _ => refuse("这种语句", 0),
    }
}

fn args(list: &[CallArg<'_>]) -> Result<(), NotAllowed> {
    for a in list {
        match a {
            CallArg::Pos(e) | CallArg::Kwarg(_, e) => expr(e)?,
            CallArg::PosSplat(e) | CallArg::KwargSplat(e) => expr(e)?,
        }
    }
    Ok(())
}

fn expr(e: &Expr<'_>) -> Result<(), NotAllowed> {
    match e {
        Expr::Var(_) | Expr::Const(_) => Ok(()),
        Expr::GetAttr(g) => expr(&g.expr),
        Expr::GetItem(g) => {
            expr(&g.expr)?;
            expr(&g.subscript_expr)
        }
        Expr::Slice(s) => {
            expr(&s.expr)?;
            for part in [&s.start, &s.stop, &s.step].into_iter().flatten() {
                expr(part)?;
            }
            Ok(())
        }
        Expr::UnaryOp(u) => expr(&u.expr),
        Expr::BinOp(b) => {
            match b.op {
                BinOpKind::Mul => return refuse("*", b.span().start_line),
                BinOpKind::Pow => return refuse("**", b.span().start_line),
                _ => {}
            }
            expr(&b.left)?;
            expr(&b.right)
        }
        Expr::Compare(c) => {
            expr(&c.expr)?;
            c.ops.iter().try_for_each(|op| expr(&op.expr))
        }
        Expr::IfExpr(i) => {
            expr(&i.test_expr)?;
            expr(&i.true_expr)?;
            i.false_expr.as_ref().map_or(Ok(()), expr)
        }
        Expr::Filter(f) => {
            if !FILTERS.contains(&f.name) {
                return refuse(format!("|{}", f.name), f.span().start_line);
            }
            if let Some(inner) = &f.expr {
                expr(inner)?;
            }
            args(&f.args)
        }
        Expr::Test(t) => {
            if !TESTS.contains(&t.name) {
                return refuse(format!("is {}", t.name), t.span().start_line);
            }
            expr(&t.expr)?;
            args(&t.args)
        }
        Expr::Call(c) => {
            let name = match &c.expr {
                Expr::Var(v) => format!("{}(…)", v.id),
                _ => "函数调用".to_owned(),
            };
            refuse(name, c.span().start_line)
        }
        Expr::List(l) => l.items.iter().try_for_each(expr),
        Expr::Map(m) => m.keys.iter().chain(&m.values).try_for_each(expr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_card_needs_passes() {
        for ok in [
            "您的报价已保存：{{ building_area }}㎡ 仅需 {{ total_money }} 元",
            "{% if order_id == 1 %}{{ quote_url }}{% else %}{{ base_url }}{% endif %}",
            "{% for i in items %}{{ loop.index }}. {{ i.name | upper }} {{ i.amount }}\n{% endfor %}",
            "{{ note | default('无') | truncate(20) }} {{ items | length }} {{ (a ~ b) if x is defined }}",
            "{{ total_money + 1 }} {{ 'a' in name }} {{ not x and y or z }}",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn what_could_hurt_is_refused_with_its_line() {
        for (bad, what, line) in [
            ("{{ 'x' * 99999999 }}", "*", 1),
            ("a\n{% set s = 'x' %}", "{% set %}", 2),
            ("{% for i in range(10000) %}{% endfor %}", "range(…)", 1),
            ("{{ name | center(1000000000) }}", "|center", 1),
            ("{{ 2 ** 64 }}", "**", 1),
            ("{% macro m() %}{% endmacro %}", "{% macro %}", 1),
            ("{% include 'x' %}", "{% include %}", 1),
            ("{{ x | format(1) }}", "|format", 1),
            (
                "{% for i in items recursive %}{% endfor %}",
                "{% for … recursive %}",
                1,
            ),
        ] {
            assert_eq!(
                check(bad),
                Err(NotAllowed {
                    what: what.into(),
                    line
                }),
                "{bad}"
            );
        }
    }
}
