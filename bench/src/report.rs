//! The bench's report: a table for people, then each row as JSON for programs.

use serde_json::Value;

pub fn print(rows: &[Value]) {
    println!(
        "\n{:<36} {:>12} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8}",
        "case",
        "per second",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "RSS MiB",
        "CPU µs",
        "DB µs",
        "÷ floor"
    );
    for r in rows {
        let per_s = r["pushes_per_s"]
            .as_f64()
            .or(r["messages_per_s"].as_f64())
            .unwrap_or(0.0);
        println!(
            "{:<36} {:>12.0} {:>8} {:>8} {:>8} {:>7} {:>9.1} {:>8} {:>8} {:>8}",
            r["case"].as_str().unwrap_or(""),
            per_s,
            r["p50_ms"]
                .as_f64()
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            r["p99_ms"]
                .as_f64()
                .map(|v| format!("{v:.2}"))
                .unwrap_or_default(),
            r["max_ms"]
                .as_f64()
                .map(|v| format!("{v:.1}"))
                .unwrap_or_default(),
            r["errors"]
                .as_u64()
                .map(|v| v.to_string())
                .unwrap_or_default(),
            r["peak_rss_mib"].as_f64().unwrap_or(0.0),
            // The service's CPU per acknowledged push or per delivered message.
            r["service_cpu_us_per_push"]
                .as_f64()
                .or(r["service_cpu_us_per_message"].as_f64())
                .map(|v| format!("{v:.0}"))
                .unwrap_or_default(),
            // The local database server's, on MariaDB.
            r["database_cpu_us_per_push"]
                .as_f64()
                .map(|v| format!("{v:.0}"))
                .unwrap_or_default(),
            // Its share of the floor run right before it.
            r["ratio_to_adjacent_floor"]
                .as_f64()
                .or(r["ratio_to_adjacent_floor_delivery"].as_f64())
                .map(|v| format!("{v:.3}"))
                .unwrap_or_default(),
        );
    }
    println!();
    for r in rows {
        println!("{r}");
    }
}
