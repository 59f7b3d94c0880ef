//! CSV exports as a spreadsheet opens them: UTF-8 with a BOM (Excel reads UTF-8 without
//! one as mojibake), every field quoted per RFC 4180 when it must be, and any field
//! that a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, a tab or a CR at
//! its start) neutralised with a leading `'`.

use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

/// A CSV document being written.
pub struct Csv {
    out: String,
}

/// One field as it goes in the file.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

impl Csv {
    /// A document starting with its header row.
    pub fn new(header: &[&str]) -> Self {
        let mut csv = Csv {
            out: String::from("\u{feff}"),
        };
        csv.row(header);
        csv
    }

    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        let line: Vec<String> = cells.iter().map(|c| field(c.as_ref())).collect();
        self.out.push_str(&line.join(","));
        self.out.push_str("\r\n");
    }

    /// The document as a download named `filename`.
    pub fn download(self, filename: &str) -> Response {
        let disposition = format!(
            "attachment; filename=\"{}\"; filename*=UTF-8''{}",
            filename.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-',
                "_"
            ),
            urlencoding::encode(filename)
        );
        (
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (CONTENT_DISPOSITION, disposition),
            ],
            self.out,
        )
            .into_response()
    }

    #[cfg(test)]
    fn text(&self) -> &str {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_fields_quoted() {
        let mut csv = Csv::new(&["名称", "值"]);
        csv.row(&["=HYPERLINK(\"http://x\")", "+1"]);
        csv.row(&["-2", "@SUM(A1)"]);
        csv.row(&["a,b", "line\nbreak"]);
        csv.row(&["plain", "say \"hi\""]);
        assert_eq!(
            csv.text(),
            "\u{feff}名称,值\r\n\"'=HYPERLINK(\"\"http://x\"\")\",'+1\r\n'-2,'@SUM(A1)\r\n\"a,b\",\"line\nbreak\"\r\nplain,\"say \"\"hi\"\"\"\r\n"
        );
    }
}
