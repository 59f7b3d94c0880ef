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

/// What a shopper's card is made of, rendered whole (`Compiled::render` over
/// `context_for`) and the cheap way (`Renders`): the two must never differ.
fn both_ways(
    renders: &for_shopper::Renders,
    tpl: &template::Model,
    order: &Order,
    openid: &str,
) -> (
    Result<Article, TemplateError>,
    Result<Article, TemplateError>,
) {
    let base = Url::parse("https://q.example/").unwrap();
    let quote_url = format!("https://q.example/quote?openid={openid}");
    let card = Compiled::new(tpl).unwrap();
    let whole = card.render(&context_for(order, openid, &quote_url, &base));
    let cheap = renders.render(&card, order, openid, &quote_url, &base);
    (whole, cheap)
}

#[test]
fn a_card_rendered_with_its_shared_parts_kept_is_the_card_rendered_whole() {
    let renders = for_shopper::Renders::default();
    let order = sample_order();
    let mut tpl = default_template();
    let templates = [
        (None, None, None),
        (
            Some("{{ openid }} 的报价：{{ total_money }} 元"),
            None,
            None,
        ),
        (
            None,
            Some("{% for openid in items %}{{ openid.name }}{% endfor %} {{ quote_url }}"),
            None,
        ),
        (
            None,
            None,
            Some("{{ base_url }}card.png?o={{ openid }}&n={{ order_id }}"),
        ),
    ];
    for (id, (title, description, pic_url)) in (10..).zip(templates) {
        tpl.id = id;
        tpl.title = title.unwrap_or(DEFAULT_TITLE).into();
        tpl.description = description.unwrap_or(DEFAULT_DESCRIPTION).into();
        tpl.pic_url = pic_url.unwrap_or(DEFAULT_PIC_URL).into();
        for openid in ["oA", "oB", "oA"] {
            let (whole, cheap) = both_ways(&renders, &tpl, &order, openid);
            let whole = whole.unwrap();
            assert_eq!(cheap.unwrap(), whole, "template {id}, {openid}");
            assert!(whole.url.ends_with(openid), "{}", whole.url);
        }
    }
    // Each shopper's own name, though the title was kept after the first.
    tpl.id = 11;
    tpl.title = "{{ openid }} 的报价：{{ total_money }} 元".into();
    let (_, b) = both_ways(&renders, &tpl, &order, "oB");
    assert_eq!(b.unwrap().title, "oB 的报价：12800 元");
}

#[test]
fn a_new_version_or_another_order_is_never_given_a_kept_part_of_another() {
    let renders = for_shopper::Renders::default();
    let order = sample_order();
    let mut tpl = default_template();
    tpl.title = "第一版 {{ order_id }}".into();
    let (_, first) = both_ways(&renders, &tpl, &order, "oA");
    assert_eq!(first.unwrap().title, format!("第一版 {}", order.id));
    tpl.id += 1;
    tpl.title = "第二版 {{ order_id }}".into();
    let (_, second) = both_ways(&renders, &tpl, &order, "oA");
    assert_eq!(second.unwrap().title, format!("第二版 {}", order.id));
    let mut other = sample_order();
    other.id = order.id + 1;
    let (_, other) = both_ways(&renders, &tpl, &other, "oA");
    assert_eq!(other.unwrap().title, format!("第二版 {}", order.id + 1));
}

#[test]
fn a_kept_part_that_failed_fails_every_shoppers_card_with_the_same_error() {
    let renders = for_shopper::Renders::default();
    let order = sample_order();
    let mut tpl = default_template();
    tpl.description = "{{ total_money }}\n{{ no_such_field }}".into();
    for openid in ["oA", "oB"] {
        let (whole, cheap) = both_ways(&renders, &tpl, &order, openid);
        let err = cheap.unwrap_err();
        assert_eq!(err, whole.unwrap_err());
        assert_eq!(
            err.to_string(),
            "描述第 2 行：订单里没有 no_such_field 这个字段"
        );
    }
    // A per-shopper link that renders to no address is refused as before. (Another
    // version: a version's id names its contents, which is what the kept parts rely on.)
    tpl = default_template();
    tpl.id += 1;
    tpl.link = "{{ openid }}".into();
    let (whole, cheap) = both_ways(&renders, &tpl, &order, "oA");
    assert_eq!(cheap.unwrap_err(), whole.unwrap_err());
    // And one that names a field no order has, beside the shopper's.
    tpl.id += 1;
    tpl.link = "{{ quote_url }}{{ nope }}".into();
    let (whole, cheap) = both_ways(&renders, &tpl, &order, "oA");
    let err = cheap.unwrap_err();
    assert_eq!(err, whole.unwrap_err());
    assert_eq!(err.to_string(), "链接第 1 行：订单里没有 nope 这个字段");
}
