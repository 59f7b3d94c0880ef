use super::*;

fn default_template() -> template::Model {
    template::Model {
        id: 1,
        title: DEFAULT_TITLE.into(),
        description: DEFAULT_DESCRIPTION.into(),
        pic_url: DEFAULT_PIC_URL.into(),
        link: DEFAULT_LINK.into(),
        created_at_ms: 0,
        origin: None,
    }
}

fn sample_order() -> Order {
    versions::sample_order(&crate::quote::orders::schema::default_schema())
}

fn render(tpl: &template::Model, ctx: &Value) -> Result<Article, TemplateError> {
    Compiled::new(tpl)?.render(ctx)
}

#[test]
fn the_default_card_states_area_prices_and_saving() {
    let base = Url::parse("https://q.example/").unwrap();
    let ctx = context_for(&sample_order(), "oX", "https://q.example/quote?x", &base);
    let article = render(&default_template(), &ctx).unwrap();
    assert_eq!(article.title, "您的报价已保存：110㎡ 仅需 12800 元");
    assert_eq!(
        article.description,
        "建筑面积：110㎡\n我们的报价：12800 元\n市场价：16000.50 元\n为您节省：3200.50 元\n点击查看报价详情"
    );
    assert_eq!(article.url, "https://q.example/quote?x");
    assert_eq!(article.picurl, "https://q.example/static/card.png");
}

#[test]
fn unknown_fields_and_broken_syntax_are_errors_naming_part_line_and_field() {
    let base = Url::parse("https://q.example/").unwrap();
    let ctx = context_for(&sample_order(), "oX", "https://q.example/q", &base);
    let mut tpl = default_template();
    tpl.title = "{{ total_money }} {{ no_such_field }}".into();
    let err = render(&tpl, &ctx).unwrap_err();
    assert_eq!(
        (err.part, err.line, err.problem.clone()),
        (
            Part::Title,
            Some(1),
            TemplateProblem::UnknownField("no_such_field".into())
        )
    );
    assert_eq!(
        err.to_string(),
        "标题第 1 行：订单里没有 no_such_field 这个字段"
    );
    tpl.title = "ok".into();
    tpl.description = "line one\n{% if %}".into();
    let err = render(&tpl, &ctx).unwrap_err();
    assert_eq!((err.part, err.line), (Part::Description, Some(2)));
    assert!(matches!(err.problem, TemplateProblem::Syntax(_)));
    assert!(err.to_string().starts_with("描述第 2 行：写法"), "{err}");
    tpl.description = "{{ total_money".into();
    let err = render(&tpl, &ctx).unwrap_err();
    assert!(err.to_string().contains("total_money"), "{err}");
    tpl.description = "{{ total_money + }}".into();
    let err = render(&tpl, &ctx).unwrap_err();
    assert!(err.to_string().contains("附近"), "{err}");
    assert!(!err.to_string().contains("expected"), "{err}");
}

#[test]
fn a_link_that_renders_to_anything_but_http_is_refused_whatever_chose_it() {
    let base = Url::parse("https://q.example/").unwrap();
    let mut tpl = default_template();
    tpl.link =
        "{% if order_id == 1 %}{{ quote_url }}{% else %}javascript:alert(1){% endif %}".into();
    let mut order = sample_order();
    order.id = 1;
    let ok = render(
        &tpl,
        &context_for(&order, "o", "https://q.example/q", &base),
    );
    assert!(ok.is_ok(), "{ok:?}");
    order.id = 2;
    let err = render(
        &tpl,
        &context_for(&order, "o", "https://q.example/q", &base),
    )
    .unwrap_err();
    assert_eq!(err.part, Part::Link);
    assert!(matches!(err.problem, TemplateProblem::NotHttp(_)));
    tpl.link = "{{ quote_url }}".into();
    tpl.pic_url = "data:image/png;base64,AAAA".into();
    let err = render(
        &tpl,
        &context_for(&order, "o", "https://q.example/q", &base),
    )
    .unwrap_err();
    assert_eq!(err.part, Part::PicUrl);
}

#[test]
fn a_render_is_cut_short_in_steps_and_in_size() {
    let base = Url::parse("https://q.example/").unwrap();
    let ctx = context_for(&sample_order(), "o", "https://q.example/q", &base);
    let mut vars: std::collections::BTreeMap<String, Value> = Default::default();
    vars.insert("s".into(), Value::from("x".repeat(500)));
    for key in [
        "building_area",
        "total_money",
        "market_money",
        "saved_money",
        "quote_url",
        "base_url",
    ] {
        vars.insert(key.into(), ctx.get_attr(key).unwrap());
    }
    let ctx = Value::from(vars);
    let mut tpl = default_template();
    // 500^4 steps if it ran: a loop over a 500-character field, four deep.
    tpl.description = "{% for a in s %}{% for b in s %}{% for c in s %}{% for d in s %}.{% endfor %}{% endfor %}{% endfor %}{% endfor %}".into();
    let started = std::time::Instant::now();
    let err = render(&tpl, &ctx).unwrap_err();
    assert_eq!(err.problem, TemplateProblem::TooMuchWork);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // 500 × 500 bytes, in few steps.
    tpl.description = "{% for a in s %}{{ s }}{% endfor %}".into();
    let err = render(&tpl, &ctx).unwrap_err();
    assert_eq!(err.problem, TemplateProblem::OutputTooLong);
    tpl.description = "{{ 'x' * 99999999 }}".into();
    let err = render(&tpl, &ctx).unwrap_err();
    assert_eq!(err.problem, TemplateProblem::NotAllowed("*".into()));
}

#[test]
fn the_usable_names_are_the_schemas_fields_then_the_rest_of_the_context_once_each() {
    let schema = crate::quote::orders::schema::default_schema();
    let base = Url::parse("https://q.example/").unwrap();
    let names = versions::usable_names(&schema, &base);
    let fields: Vec<String> = schema.iter().map(|f| f.name.clone()).collect();
    assert_eq!(
        names[..fields.len()],
        fields[..],
        "the schema's fields first, in its order"
    );
    for name in [
        "market_money",
        "building_area",
        "items",
        "order_id",
        "external_id",
        "openid",
        "quote_url",
        "base_url",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
    }
    let mut once = names.clone();
    once.sort();
    once.dedup();
    assert_eq!(once.len(), names.len(), "no name twice: {names:?}");
}
